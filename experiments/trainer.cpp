#include "experiments/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/elementwise.h"
#include "core/ops/loss.h"
#include "core/threads.h"
#include "datasets/loader.h"
#include "experiments/checkpoint.h"
#include "experiments/data_setup.h"
#include "experiments/distributed.h"
#include "experiments/evaluate.h"
#include "experiments/interrupt.h"
#include "experiments/manifest.h"
#include "experiments/mid_step_checkpoint.h"
#include "experiments/optimizer_setup.h"
#include "experiments/progress.h"
#include "experiments/quantization_setup.h"
#include "experiments/run_files.h"
#include "experiments/train_step.h"
#include "layers/batch_norm_sync.h"

namespace lpt {

namespace {

using clock_type = std::chrono::steady_clock;

// Messages of the run: only rank 0 prints them in a data-parallel run.
void log(const char* fmt, const std::string& a = {}) {
  if (dist::World::get().writer()) std::fprintf(stderr, fmt, a.c_str());
}

}  // namespace

int train(const TrainRequest& request) {
  const json& config = request.config;
  const std::string& dir = request.run_dir;
  const std::string checkpoint_path = dir + "/" + run_files::checkpoint;
  const int threads = config["threads"];
  set_num_threads(threads);
  const uint64_t seed = config["seed"];
  const json& t = config["training"];
  const int64_t epochs = t["epochs"];
  // Data-parallel under mpirun (SPEC §10): rank 0 alone writes the run directory and prints.
  dist::World& world = dist::World::get();
  const bool writer = world.writer();
  const int64_t checksum_every = config["distributed"]["checksum_every"];
  const bool sync_bn = world.distributed() && config["distributed"]["sync_batchnorm"].get<bool>();
  GradientExchange exchange(world, gradient_transport_of(config["distributed"]["gradient_transport"]));
  if (world.distributed() && writer)
    std::fprintf(stderr, "lpt: data-parallel training over %d processes of %d threads each%s%s\n", world.size(), threads,
                 sync_bn ? ", synchronised batch norm" : "",
                 exchange.transport() == GradientTransport::encoded ? ", encoded weight gradients" : "");
  // sync_batchnorm: every BatchNorm2d takes its training statistics over the global batch.
  struct SyncBatchNorm {
    explicit SyncBatchNorm(dist::World* w) {
      if (w) set_batch_norm_sync([w](double* d, int64_t n) { w->sum_in_rank_order(d, n); });
    }
    ~SyncBatchNorm() { set_batch_norm_sync({}); }
  } sync_batch_norm(sync_bn ? &world : nullptr);

  if (!request.resume && writer) {
    LPT_CHECK(!std::filesystem::exists(checkpoint_path), "run directory '", dir,
              "' already holds a checkpoint; resume it with --resume ", dir,
              " or choose another output_dir / name");
  }
  if (writer) {
    std::filesystem::create_directories(dir);
    remove_stale_temporaries(dir);
  }

  const DataSplits data = make_data(config);
  data::LoaderOptions lo;
  lo.batch_size = t["batch_size"];
  lo.drop_last = t["drop_last"];
  lo.seed = seed;
  lo.shard = world.rank();  // this rank's contiguous part of every global batch
  lo.shards = world.size();
  data::Loader loader(data.train, data.train_transforms, lo);  // counts global batches
  LPT_CHECK(loader.batches_per_epoch() > 0, "training set of ", data.train->size(),
            " images gives no batch of size ", lo.batch_size);
  const int64_t limit = t["steps_per_epoch"];
  const int64_t steps_per_epoch = limit > 0 ? std::min(limit, loader.batches_per_epoch()) : loader.batches_per_epoch();
  check_data_parallel_config(config, data.train->size(), steps_per_epoch, world);

  std::shared_ptr<Module> model = make_experiment_model(config, data, !request.resume);
  apply_quantization(*model, config, 0);  // before loading: checkpoints hold quantizer state
  const bool diagnostics = quantization_enabled(config) && config["quantization"]["diagnostics"].get<bool>();
  OptimizerSet optimizers = make_optimizers(config, *model, steps_per_epoch);

  TrainingProgress progress;
  if (request.resume) {
    // Rank 0 reads the checkpoint and sends it to the others: no shared file system is needed.
    const std::string local = share_file_from_rank0(checkpoint_path, world);
    LoadedCheckpoint loaded;
    try {
      loaded = load_checkpoint(local, *model, optimizers);
    } catch (...) {
      if (local != checkpoint_path) std::filesystem::remove(local);
      throw;
    }
    if (local != checkpoint_path) std::filesystem::remove(local);
    progress = loaded.progress;
    if (loaded.world_size != world.size() && writer)
      std::fprintf(stderr,
                   "lpt: warning: the checkpoint was written by %d data-parallel process(es) and this run has %d: "
                   "the result will not be bit-identical to an uninterrupted run\n",
                   loaded.world_size, world.size());
    if (loaded.threads != threads && writer)
      std::fprintf(stderr,
                   "lpt: warning: the checkpoint was written with %d threads and this run uses %d: the result "
                   "will not be bit-identical to an uninterrupted run\n",
                   loaded.threads, threads);
    apply_quantization(*model, config, progress.epoch);  // the lanes of the epoch it resumes in
    if (loaded.gemm_lanes != gemm_lane_plan(*model) && writer)
      std::fprintf(stderr,
                   "lpt: warning: the checkpoint's GEMMs ran in other lanes (bf16 / fp32) than this run's (execution "
                   "setting or CPU changed): the result will not be bit-identical to an uninterrupted run\n");
    if (writer) {
      truncate_metrics(dir, progress.epoch);
      std::fprintf(stderr, "lpt: resuming '%s' at epoch %ld, batch %ld (step %ld)\n", dir.c_str(),
                   progress.epoch + 1, progress.batch_in_epoch, progress.step);
    }
  } else {
    // Rank 0 reads init_from; broadcast_model below gives its weights to every rank.
    if (config["checkpoint"]["init_from"].is_string() && writer)
      load_model_weights(config["checkpoint"]["init_from"].get<std::string>(), *model);
    if (writer) std::filesystem::remove(dir + "/" + run_files::metrics);
  }
  broadcast_model(*model, world);  // every rank starts from rank 0's model
  if (writer) write_json_atomically(dir + "/" + run_files::config, config);
  const auto checkpoint = [&](int64_t step) {  // every rank calls it; rank 0 writes
    check_parameters_agree(*model, world, step);
    if (writer) save_checkpoint(checkpoint_path, *model, optimizers, progress, config, threads, world.size());
  };

  install_interrupt_handler();
  std::optional<MidStepCheckpoint> mid_step;  // a signal during a long step still checkpoints
  if (writer)
    mid_step.emplace([&](const StepStart& at) {
      save_checkpoint(checkpoint_path, *model, optimizers, at, config, threads, world.size());
    });
  const float label_smoothing = t["label_smoothing"];
  const int64_t eval_batch = t["eval_batch_size"];
  const int64_t eval_every = config["evaluation"]["every_epochs"];
  const int64_t ckpt_every = config["checkpoint"]["every_epochs"];
  ProgressLine line(epochs * steps_per_epoch, t["progress_every"]);
  bool manifest_written = false;
  if (writer)
    std::fprintf(stderr, "lpt: training %s on %s (%ld train / %ld val / %ld test images), %ld epochs of %ld steps, "
               "%d threads -> %s\n",
               config["model"]["name"].get<std::string>().c_str(), config["data"]["dataset"].get<std::string>().c_str(),
               data.train->size(), data.val ? data.val->size() : 0, data.test->size(), epochs, steps_per_epoch,
               threads, dir.c_str());

  model->train();
  for (int64_t epoch = progress.epoch; epoch < epochs; ++epoch) {
    apply_quantization(*model, config, epoch);  // the Accuracy Booster's formats depend on the epoch
    loader.start_epoch(epoch);
    if (progress.batch_in_epoch > 0) loader.skip_to(progress.batch_in_epoch);
    const auto epoch_start = clock_type::now();
    const double seconds_before = progress.seconds;
    const auto epoch_seconds = [&] {  // training time of this epoch, resumed parts included
      return seconds_before + std::chrono::duration<double>(clock_type::now() - epoch_start).count();
    };
    while (progress.batch_in_epoch < steps_per_epoch) {
      std::optional<data::Batch> batch = loader.next();
      if (!batch) break;
      const bool collect = diagnostics && progress.batch_in_epoch + 1 == steps_per_epoch;  // the epoch's last step
      if (collect) set_collect_stats(*model, true);
      if (mid_step) {
        TrainingProgress now = progress;
        now.seconds = epoch_seconds();
        mid_step->step_starts(record_step_start(*model, now));
      }
      const StepResult r = train_step(*model, optimizers, batch->images, batch->labels, seed, progress.step,
                                      label_smoothing, &exchange, [&] {
                                        test_slow_step(progress.step);
                                        if (mid_step) mid_step->before_update();
                                      });
      if (collect) set_collect_stats(*model, false);

      const int64_t n = batch->labels.numel() * world.size();  // the global batch (equal shards)
      progress.loss_sum += double(r.loss) * double(n);
      progress.correct += r.correct;
      progress.seen += n;
      ++progress.step;
      ++progress.batch_in_epoch;
      raise_test_signals(progress.step);
      raise_test_failure(progress.step);
      test_pause(progress.step);
      if (const std::string name = test_perturbation(progress.step); !name.empty())
        for (auto& [pname, p] : model->named_parameters())
          if (pname == name) p.data().data<float>()[0] += 1e-3f;
      if (writer)
        line.update(epoch + 1, epochs, progress.batch_in_epoch, steps_per_epoch, progress.step,
                  progress.loss_sum / double(progress.seen), double(progress.correct) / double(progress.seen), n);
      if (!manifest_written && writer) {  // after the first step every primitive exists
        json manifest = make_manifest(threads);
        manifest["gemms"] = gemm_lanes(*model);
        manifest["world_size"] = world.size();
        write_json_atomically(dir + "/" + run_files::manifest, manifest);
        manifest_written = true;
      }
      // Data-parallel: the ranks agree to stop at this step when any of them got a signal.
      const int stop_status = int(world.max(interrupt_exit_status()));
      if (stop_status != 0) {
        progress.seconds = epoch_seconds();
        if (writer) line.finish_line();
        checkpoint(progress.step);
        log("lpt: interrupted; checkpoint written to %s (resume with --resume)\n", checkpoint_path);
        return stop_status;
      }
      if (world.distributed() && progress.step % checksum_every == 0) check_parameters_agree(*model, world, progress.step);
    }
    if (writer) line.finish_line();
    progress.seconds = epoch_seconds();

    json m = {{"epoch", epoch + 1},
              {"step", progress.step},
              {"lr", optimizers.optimizers[0]->lr(0)},
              {"lr_1d", optimizers.optimizers.back()->lr(0)},
              {"train_loss", progress.loss_sum / double(progress.seen)},
              {"train_accuracy", double(progress.correct) / double(progress.seen)},
              {"train_seconds", progress.seconds},
              {"train_images_per_second", double(progress.seen) / progress.seconds}};
    if (world.distributed()) {  // what this rank's gradient exchanges cost, per step
      const GradientExchange::Cost c = exchange.take_cost();
      const double steps = double(std::max<int64_t>(1, c.exchanges));
      m["comm_sent_bytes_per_step"] = double(c.bytes_sent) / steps;
      m["comm_received_bytes_per_step"] = double(c.bytes_received) / steps;
      m["comm_seconds_per_step"] = c.seconds / steps;
      m["comm_gather_seconds_per_step"] = c.gather_seconds / steps;
    }
    if (quantization_enabled(config)) m["quantization"] = take_quantization_diagnostics(*model);
    const bool last = epoch + 1 == epochs;
    if (last || (epoch + 1) % eval_every == 0) {
      const auto eval_start = clock_type::now();
      broadcast_buffers(*model, world);  // rank 0's BN running statistics on every rank
      m.update(evaluate_splits(*model, data, eval_batch, nullptr, &world));
      m["eval_seconds"] = std::chrono::duration<double>(clock_type::now() - eval_start).count();
    }
    progress = TrainingProgress{epoch + 1, progress.step, 0, 0, 0, 0, 0};
    if (writer) {
      append_metrics(dir, m);
      json shown = m;
      shown.erase("quantization");  // per-layer diagnostics are for the metrics file and `lpt report`
      std::fprintf(stderr, "%s\n", shown.dump().c_str());
    }
    const bool stop = request.stop_after_epochs == epoch + 1 && !last;
    if (last || stop || (epoch + 1) % ckpt_every == 0) checkpoint(progress.step);
    if (stop) {
      log("lpt: stopped as asked; checkpoint written to %s (continue with --resume)\n", checkpoint_path);
      return 0;
    }
  }
  return 0;
}

}  // namespace lpt
