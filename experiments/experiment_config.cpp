#include "experiments/experiment_config.h"

#include <fstream>

#include "core/json_text.h"
#include "core/error.h"
#include "experiments/quantization_setup.h"

namespace lpt {

namespace {
using K = SchemaField::Kind;

SchemaField num(std::string key, double def, std::string help, std::optional<double> min = {},
                std::optional<double> max = {}) {
  return {std::move(key), K::number, def, std::move(help), min, max, {}, {}};
}
SchemaField integer(std::string key, json def, std::string help, std::optional<double> min = {},
                    std::optional<double> max = {}) {
  return {std::move(key), K::integer, std::move(def), std::move(help), min, max, {}, {}};
}
SchemaField boolean(std::string key, bool def, std::string help) {
  return {std::move(key), K::boolean, def, std::move(help), {}, {}, {}, {}};
}
SchemaField text(std::string key, json def, std::string help, std::vector<std::string> choices = {}) {
  return {std::move(key), K::string, std::move(def), std::move(help), {}, {}, std::move(choices), {}};
}
SchemaField optional_text(std::string key, std::string help) {
  SchemaField f{std::move(key), K::string, nullptr, std::move(help), {}, {}, {}, {}};
  f.optional = true;
  return f;
}
SchemaField object(std::string key, std::string help, std::vector<SchemaField> fields) {
  return {std::move(key), K::object, nullptr, std::move(help), {}, {}, {}, std::move(fields)};
}
SchemaField list(std::string key, K kind, json def, std::string help, std::optional<double> min = {}) {
  return {std::move(key), kind, std::move(def), std::move(help), min, {}, {}, {}};
}
SchemaField any(std::string key, json def, std::string help) {
  return {std::move(key), K::any, std::move(def), std::move(help), {}, {}, {}, {}};
}
// A key that may be left out (null): the code then takes a value from elsewhere, as its help says.
SchemaField optional(SchemaField f) {
  f.default_value = nullptr;
  f.optional = true;
  return f;
}
SchemaField removed(std::string key, std::string instead) {
  return {std::move(key), K::removed, nullptr, std::move(instead), {}, {}, {}, {}};
}
// Adam's (β1, β2): two values in [0, 1) (β = 1 divides by zero in the bias correction).
SchemaField betas() {
  SchemaField f = list("betas", K::number_list, {0.9, 0.999}, "Adam/AdamW betas (β1, β2)", 0.0);
  f.max = 1.0;
  f.max_exclusive = true;
  f.min_items = f.max_items = 2;
  return f;
}
std::vector<SchemaField> schedule_fields() {
  return {text("name", "cosine", "schedule", {"constant", "step", "multistep", "cosine"}),
          integer("step_size", 30, "step: epochs between decays", 1),
          list("milestones", K::integer_list, json::array(), "multistep: epochs at which to decay", 0),
          num("gamma", 0.1, "step/multistep decay factor", 0.0),
          num("eta_min", 0.0, "cosine: final learning rate", 0.0),
          integer("warmup_iterations", 0, "linear warm-up iterations before the schedule", 0),
          num("warmup_start_factor", 0.1, "warm-up: initial fraction of the learning rate", 0.0, 1.0)};
}
// A format value: a JSON object as `lpt quantize --format` takes it, or null for fp32.
SchemaField format(std::string key, std::string help) {
  SchemaField f = any(std::move(key), nullptr,
                      std::move(help) + ": a format object (e.g. {\"type\":\"hbfp\",\"mantissa_bits\":3}) or null (fp32)");
  f.optional = true;
  return f;
}
}  // namespace

const std::vector<SchemaField>& experiment_schema() {
  static const std::vector<SchemaField> schema = {
      text("name", "experiment", "run name; the default run directory is runs/<name>"),
      integer("seed", 0, "seeds initialisation, data order, augmentation, dropout and stochastic rounding", 0),
      integer("threads", 2, "OpenMP/oneDNN threads; results are bit-exact for a given seed and thread count", 1,
              1024),
      text("output_dir", "", "run directory (empty: runs/<name>)"),
      object("model", "the network",
             {text("name", "resnet20", "architecture",
                   {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet18", "resnet34", "resnet50",
                    "mobilenet_v1", "mobilenet_v2"}),
              num("width", 1.0, "MobileNet width multiplier", 0.0625, 4.0),
              num("dropout", 0.2, "MobileNetV2 classifier dropout", 0.0, 0.99)}),
      object("data", "dataset, split and augmentation",
             {text("dataset", "fashion-mnist", "dataset kind",
                   {"fashion-mnist", "mnist", "cifar10", "cifar100", "hdf5", "image-folder", "synthetic"}),
              text("path", "/usr/share/datasets/fashion-mnist",
                   "directory: IDX files (train-images-idx3-ubyte[.gz] ...), CIFAR .bin files, train.h5/test.h5, "
                   "or image-folder train/ and val/ subfolders"),
              integer("validation_size", 5000, "training images held out for validation (0: none)", 0),
              integer("image_size", 224, "image-folder only: crop size after resizing", 8, 4096),
              integer("synthetic_size", 2048, "synthetic only: training images (the test set has a sixth as many)", 6),
              object("normalize", "per-channel normalisation (x - mean) / std after scaling to [0, 1]",
                     {list("mean", K::number_list, {0.2860}, "per-channel means (one value: all channels)"),
                      list("std", K::number_list, {0.3530}, "per-channel standard deviations", 1e-12)}),
              object("augment", "training-time augmentation",
                     {integer("random_crop_padding", 2, "zero padding of the random crop (0: no crop)", 0, 64),
                      boolean("horizontal_flip", true, "random horizontal flip with p = 0.5"),
                      boolean("random_resized_crop", false, "ImageNet-style random-resized crop")})}),
      object("training", "the training loop",
             {integer("epochs", 15, "epochs to train", 1),
              integer("batch_size", 128, "training batch size", 1),
              boolean("drop_last", true, "drop the last partial training batch"),
              num("label_smoothing", 0.0, "cross-entropy label smoothing", 0.0, 0.999),
              integer("eval_batch_size", 500, "batch size for validation and test", 1),
              integer("steps_per_epoch", 0, "stop each epoch after this many steps (0: the whole epoch)", 0),
              integer("progress_every", 10, "steps between progress-line updates", 1)}),
      object("optimizer", "optimizer and its hyperparameters",
             {text("name", "sgd", "optimizer (lns-madam: LNS master weights, SPEC §5)",
                   {"sgd", "adam", "adamw", "madam", "lns-madam"}),
              num("lr", 0.1, "base learning rate (Madam/LNS-Madam: the multiplicative rate η₀)", 0.0),
              num("momentum", 0.9, "SGD momentum", 0.0, 0.999999),
              num("dampening", 0.0, "SGD dampening", 0.0, 1.0),
              boolean("nesterov", true, "SGD Nesterov momentum"),
              num("weight_decay", 5e-4,
                  "weight decay (L2 for SGD/Adam, decoupled for AdamW; none for Madam/LNS-Madam) of parameters with "
                  "more than one dimension",
                  0.0),
              removed("decay_1d", "write /optimizer/params_1d/weight_decay (the 1-D parameters' own weight decay, "
                                  "default 0) instead of decay_1d: true"),
              betas(),
              num("eps", 1e-8, "Adam/AdamW epsilon", 0.0),
              num("madam_p_scale", 3.0, "Madam/LNS-Madam: bound = p_scale * RMS at the first step", 0.0),
              optional(text("master_weights", nullptr,
                            "LNS-Madam master weights (SPEC §5): fp32 (the reference update, fp32 weights) or lns16 "
                            "(16-bit LNS codes, base factor master_gamma); unset: lns16",
                            {"fp32", "lns16"})),
              integer("master_gamma", 2048,
                      "LNS-Madam lns16: the master grid's base factor γ_U, a power of two with master_gamma * lr >= 1",
                      1, 32768),
              text("update_rounding", "nearest",
                   "LNS-Madam lns16: rounding of the code step γ_U·η_t·round(ĝ) (stochastic: unbiased, keyed by seed, "
                   "step and parameter)",
                   {"nearest", "stochastic"}),
              object("params_1d",
                     "1-D parameters (biases, BN scale and shift): their own optimizer; a key left out takes "
                     "/optimizer's value",
                     {optional(text("name", nullptr,
                                    "optimizer of the 1-D parameters (unset: /optimizer/name; with madam/lns-madam: sgd, "
                                    "since multiplicative updates never move a zero)",
                                    {"sgd", "adam", "adamw"})),
                      optional(num("lr", 0, "learning rate (unset: /optimizer/lr; required with madam/lns-madam)", 0.0)),
                      optional(num("momentum", 0, "SGD momentum", 0.0, 0.999999)),
                      optional(num("dampening", 0, "SGD dampening", 0.0, 1.0)),
                      optional(boolean("nesterov", false, "SGD Nesterov momentum")),
                      num("weight_decay", 0.0, "weight decay of the 1-D parameters", 0.0),
                      optional(betas()),
                      optional(num("eps", 0, "Adam/AdamW epsilon", 0.0)),
                      optional(object("schedule", "their learning-rate schedule (unset: /schedule)", schedule_fields()))}),
             }),
      object("schedule", "learning-rate schedule", schedule_fields()),
      object("quantization", "number formats of the conv and linear GEMMs (SPEC §2); all null: fp32 training",
             {format("weights", "weights in all three GEMMs (backward-data: unless /quantization/backward_data/weights)"),
              format("activations", "layer inputs x (signed \"auto\": unsigned after ReLU/ReLU6)"),
              format("errors", "output gradients dy in both backward GEMMs"),
              format("weight_gradients", "weight gradients dw before the optimizer"),
              object("backward_data",
                     "per-GEMM formats (SPEC §2) of the backward-data GEMM dx = dy ⊛ wᵀ; each set operand is "
                     "quantized from fp32 along that GEMM's reduction axis (C_out)",
                     {format("weights", "w in the backward-data GEMM (unset: /quantization/weights)"),
                      format("errors", "dy in the backward-data GEMM (unset: /quantization/errors)")}),
              object("backward_weights",
                     "per-GEMM formats of the backward-weights GEMM dw = xᵀ ⊛ dy; each set operand is quantized "
                     "from fp32 along that GEMM's reduction axis (N·H·W)",
                     {format("activations", "x in the backward-weights GEMM (unset: /quantization/activations)"),
                      format("errors", "dy in the backward-weights GEMM (unset: /quantization/errors)")}),
              text("weight_estimator", "ste", "gradient through the weight quantizer (SPEC §4)", {"ste", "pwl", "mad"}),
              text("activation_estimator", "ste", "gradient through the activation quantizer", {"ste", "pwl", "mad"}),
              boolean("requantize_backward", false,
                      "backward GEMMs re-quantize x and w along their own axes instead of reusing forward's"),
              optional(boolean("hadamard", false,
                               "random Hadamard transform of x and dy along the backward-weights GEMM's reduction "
                               "index before they are quantized (SPEC §2), in the layers where it holds: linear "
                               "layers and 1×1, stride-1, unpadded convolutions (unset: off)")),
              text("execution", "auto",
                   "where GEMMs run (SPEC §9): emulated (fp32 on fake-quantized values), native (bf16 where both "
                   "operands are bf16-exact; an error for a GEMM that cannot), auto (native where possible)",
                   {"auto", "emulated", "native"}),
              any("layers", json::array(),
                  "per-layer rules [{\"match\": glob, <role or option>: value, ...}], applied in order (later "
                  "rules win); \"@first\" / \"@last\" match the first conv and the final linear; a rule that "
                  "matches no layer is an error"),
              object("booster", "Accuracy Booster: a wider format for some epochs and layers (SPEC §1.2)",
                     {format("format", "boosted format replacing every quantized weights/activations/errors format, "
                                       "per-GEMM ones included"),
                      integer("last_epochs", 1, "the last N epochs run boosted", 0),
                      any("layers", json::array({"@first", "@last"}), "layers (globs) boosted in every epoch")}),
              integer("calibration_batches", 4,
                      "PTQ: training batches (no augmentation, BN in eval mode) that calibrate activation clip values",
                      1),
              boolean("diagnostics", true,
                      "record per-layer quantization diagnostics (SQNR, clipping, scales) at each epoch's last step")}),
      object("checkpoint", "checkpoints",
             {integer("every_epochs", 1, "write a checkpoint every N epochs (and at the end)", 1),
              optional_text("init_from", "load model weights only from this checkpoint (fine-tuning)")}),
      object("evaluation", "evaluation cadence",
             {integer("every_epochs", 1, "evaluate validation and test sets every N epochs (and at the end)", 1)}),
      object("distributed", "data-parallel training under mpirun -np N (SPEC §10; ignored by one process)",
             {integer("checksum_every", 100,
                      "steps between comparisons of the processes' parameter checksums (also at every checkpoint)",
                      1),
              boolean("sync_batchnorm", false,
                      "batch norm statistics over the global batch (all-reduced) instead of each process's shard"),
              text("gradient_transport", "fp32",
                   "what the gradient exchange sends: fp32 gradients, or (encoded) each weight_gradients-quantized "
                   "weight gradient as its format's codes and scales, the other gradients as fp32",
                   {"fp32", "encoded"})}),
  };
  return schema;
}

bool is_multiplicative_optimizer(const std::string& name) { return name == "madam" || name == "lns-madam"; }

namespace {
// What the schema's per-key checks cannot see: keys that depend on each other.
void check_optimizer_config(const json& o, const std::string& source) {
  const std::string name = o["name"];
  LPT_CHECK(o["master_weights"].is_null() || name == "lns-madam", source,
            ": /optimizer/master_weights: applies to lns-madam only, not to \"", name, "\"");
  LPT_CHECK(!is_multiplicative_optimizer(name) || !o["params_1d"]["lr"].is_null(), source,
            ": /optimizer/params_1d/lr: required with /optimizer/name \"", name,
            "\": its rate is multiplicative, so the 1-D parameters' optimizer needs its own (the fp32 recipes use 0.1)");
  const double gamma_lr = o["master_gamma"].get<double>() * o["lr"].get<double>();
  LPT_CHECK(name != "lns-madam" || o["master_weights"] == "fp32" || gamma_lr >= 1, source,
            ": /optimizer/master_gamma: ", o["master_gamma"].get<int>(), " times /optimizer/lr ", o["lr"].get<double>(),
            " is ", gamma_lr, ", expected >= 1 (a step of one rounded ĝ must move at least one master code)");
  const int gamma = o["master_gamma"];
  LPT_CHECK((gamma & (gamma - 1)) == 0, source, ": /optimizer/master_gamma: expected a power of two, got ", gamma);
}

// An encoded gradient transport needs gradients in a format: a weight_gradients format in the
// section or in a layer rule.
void check_distributed_config(const json& config, const std::string& source) {
  if (config["distributed"]["gradient_transport"] != "encoded") return;
  const json& q = config["quantization"];
  bool any = !q.value("weight_gradients", json()).is_null();
  for (const json& rule : q["layers"]) any = any || !rule.value("weight_gradients", json()).is_null();
  LPT_CHECK(any, source, ": /distributed/gradient_transport: \"encoded\" sends weight gradients in their "
            "/quantization/weight_gradients format, and no layer has one; set that format or use \"fp32\"");
  // OCTAV on a rank's own gradient would keep a warm start per rank, and checkpoints hold rank 0's.
  const auto octav = [](const json& f) { return f.is_object() && f.value("clipping", "") == "octav"; };
  bool any_octav = octav(q.value("weight_gradients", json()));
  for (const json& rule : q["layers"]) any_octav = any_octav || octav(rule.value("weight_gradients", json()));
  LPT_CHECK(!any_octav, source, ": /distributed/gradient_transport: \"encoded\" quantizes each process's own weight "
            "gradient, and OCTAV clipping would then keep a different warm start on each process; use another "
            "clipping for /quantization/weight_gradients or the \"fp32\" transport");
}
}  // namespace

json resolve_experiment(json config, const std::string& source, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) apply_override(config, o);
  json resolved = validate(config, experiment_schema(), source);
  check_quantization_config(resolved["quantization"], source);  // format objects and layer rules
  check_optimizer_config(resolved["optimizer"], source);
  check_distributed_config(resolved, source);
  return resolved;
}

json load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  return resolve_experiment(read_json_file(path, "config '" + path + "'"), path, overrides);
}

std::string run_directory(const json& config) {
  const std::string dir = config["output_dir"].get<std::string>();
  return dir.empty() ? "runs/" + config["name"].get<std::string>() : dir;
}

}  // namespace lpt
