#include "experiments/distributed.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "experiments/checkpoint.h"
#include "experiments/quantization_setup.h"

namespace lpt {

namespace {
// Weight gradients are quantized by each rank on its own gradient (what travels; no statistic is
// shared), so a config whose only formats are weight_gradients needs nothing all-reduced.
bool only_weight_gradients_quantized(const json& q) {
  const auto others_null = [](const json& o) {
    for (const char* role : {"weights", "activations", "errors"})
      if (!o.value(role, json()).is_null()) return false;
    return true;
  };
  if (!others_null(q)) return false;
  for (const json& rule : q["layers"])
    if (!others_null(rule)) return false;
  return true;
}
}  // namespace

void check_data_parallel_config(const json& config, int64_t train_size, int64_t steps_per_epoch,
                                const dist::World& world) {
  const int64_t n = world.size();
  if (n <= 1) return;
  const json& t = config["training"];
  const int64_t batch = t["batch_size"];
  LPT_CHECK(batch % n == 0, "/training/batch_size: ", batch, " is not divisible by the ", n,
            " processes of this data-parallel run (each process trains an equal shard of every batch)");
  const int64_t partial = train_size % batch;
  const int64_t full = train_size / batch;
  LPT_CHECK(t["drop_last"].get<bool>() || partial % n == 0 || steps_per_epoch <= full, "/training/drop_last: false, and the last training batch of ",
            partial, " images does not split evenly over ", n,
            " processes; set drop_last to true or choose a batch size that divides the training set");
  LPT_CHECK(!quantization_enabled(config) || only_weight_gradients_quantized(config["quantization"]),
            "/quantization: data-parallel training (", n,
            " processes) of quantized models is not implemented yet (quantizer statistics are not "
            "all-reduced); train in fp32 (every /quantization format null) or with one process");
  LPT_CHECK(config["model"]["name"] != "mobilenet_v2" || config["model"]["dropout"].get<double>() == 0,
            "/model/dropout: data-parallel training (", n,
            " processes) with dropout is not implemented yet (its mask is keyed by the local batch "
            "position); set it to 0 or train with one process");
}

namespace {
void broadcast_tensor(const std::string& name, Tensor& t, dist::World& world) {
  LPT_CHECK(t.is_dense(), "data-parallel training: tensor '", name, "' is not dense");
  world.broadcast(t.raw_data(), int64_t(t.nbytes()), 0);
}

// FNV-1a over the values in logical order.
uint64_t checksum(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  uint64_t h = 1469598103934665603ull;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
}  // namespace

void broadcast_model(Module& model, dist::World& world) {
  if (!world.distributed()) return;
  for (auto& [name, t] : model_tensors(model)) broadcast_tensor(name, *t, world);
}

void broadcast_buffers(Module& model, dist::World& world) {
  if (!world.distributed()) return;
  for (auto& [name, t] : model.named_buffers()) broadcast_tensor(name, *t, world);
}

void check_parameters_agree(Module& model, dist::World& world, int64_t step) {
  if (!world.distributed()) return;
  const auto params = model.named_parameters();
  std::vector<uint64_t> mine;
  for (const auto& [name, p] : params) mine.push_back(checksum(p.data()));
  const std::vector<uint64_t> all = world.all_gather(mine);
  for (size_t i = 0; i < mine.size(); ++i) {
    std::string ranks;
    for (int r = 1; r < world.size(); ++r)
      if (all[size_t(r) * mine.size() + i] != all[i]) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    if (!ranks.empty())
      fail("step ", step, ": the parameters of the data-parallel processes differ: '", params[i].first,
           "' (the first differing tensor) on rank(s) ", ranks, " differs from rank 0's; training stopped, the "
           "last good checkpoint is kept");
  }
}

std::string share_file_from_rank0(const std::string& path, dist::World& world) {
  if (!world.distributed()) return path;
  std::string bytes;
  int64_t ok = 1;
  if (world.rank() == 0) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
    ok = in.good() || in.eof() ? 1 : 0;
    LPT_CHECK(ok, "cannot read '", path, "'");
  }
  world.broadcast(bytes, 0);
  if (world.rank() == 0) return path;
  std::string tmp = (std::filesystem::temp_directory_path() / "lpt_rank_XXXXXX").string();
  const int fd = mkstemp(tmp.data());
  LPT_CHECK(fd >= 0, "rank ", world.rank(), ": cannot create a temporary file for '", path, "': ", std::strerror(errno));
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t w = write(fd, p, left);
    if (w < 0) {
      close(fd);
      fail("rank ", world.rank(), ": cannot write a temporary copy of '", path, "': ", std::strerror(errno));
    }
    p += w;
    left -= size_t(w);
  }
  close(fd);
  return tmp;
}

}  // namespace lpt
