#include "experiments/experiment_config.h"

#include <fstream>

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
              num("lr", 0.1, "base learning rate", 0.0),
              num("momentum", 0.9, "SGD momentum", 0.0, 0.999999),
              num("dampening", 0.0, "SGD dampening", 0.0, 1.0),
              boolean("nesterov", true, "SGD Nesterov momentum"),
              num("weight_decay", 5e-4, "weight decay (L2 for SGD/Adam, decoupled for AdamW)", 0.0),
              boolean("decay_1d", false, "apply weight decay to 1-D parameters (biases, BN) too"),
              list("betas", K::number_list, {0.9, 0.999}, "Adam/AdamW betas", 0.0),
              num("eps", 1e-8, "Adam/AdamW epsilon", 0.0),
              num("madam_p_scale", 3.0, "Madam/LNS-Madam: bound = p_scale * RMS at the first step", 0.0)}),
      object("schedule", "learning-rate schedule",
             {text("name", "cosine", "schedule", {"constant", "step", "multistep", "cosine"}),
              integer("step_size", 30, "step: epochs between decays", 1),
              list("milestones", K::integer_list, json::array(), "multistep: epochs at which to decay", 0),
              num("gamma", 0.1, "step/multistep decay factor", 0.0),
              num("eta_min", 0.0, "cosine: final learning rate", 0.0),
              integer("warmup_iterations", 0, "linear warm-up iterations before the schedule", 0),
              num("warmup_start_factor", 0.1, "warm-up: initial fraction of the learning rate", 0.0, 1.0)}),
      object("quantization", "number formats of the conv and linear GEMMs (SPEC §2); all null: fp32 training",
             {format("weights", "weights in all three GEMMs"),
              format("activations", "layer inputs x (signed \"auto\": unsigned after ReLU/ReLU6)"),
              format("errors", "output gradients dy in both backward GEMMs"),
              format("weight_gradients", "weight gradients dw before the optimizer"),
              text("weight_estimator", "ste", "gradient through the weight quantizer (SPEC §4)", {"ste", "pwl", "mad"}),
              text("activation_estimator", "ste", "gradient through the activation quantizer", {"ste", "pwl", "mad"}),
              boolean("requantize_backward", false,
                      "backward GEMMs re-quantize x and w along their own axes instead of reusing forward's"),
              text("execution", "auto",
                   "where GEMMs run (SPEC §9): emulated (fp32 on fake-quantized values), native (bf16 where both "
                   "operands are bf16-exact; an error for a GEMM that cannot), auto (native where possible)",
                   {"auto", "emulated", "native"}),
              any("layers", json::array(),
                  "per-layer rules [{\"match\": glob, <role or option>: value, ...}], applied in order (later "
                  "rules win); \"@first\" / \"@last\" match the first conv and the final linear; a rule that "
                  "matches no layer is an error"),
              object("booster", "Accuracy Booster: a wider format for some epochs and layers (SPEC §1.2)",
                     {format("format", "boosted format replacing every quantized weights/activations/errors format"),
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
  };
  return schema;
}

json resolve_experiment(json config, const std::string& source, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) apply_override(config, o);
  json resolved = validate(config, experiment_schema(), source);
  check_quantization_config(resolved["quantization"], source);  // format objects and layer rules
  return resolved;
}

json load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  LPT_CHECK(in, "config '", path, "' cannot be opened");
  json config = json::parse(in, nullptr, false);
  LPT_CHECK(!config.is_discarded(), "config '", path, "' is not valid JSON");
  return resolve_experiment(std::move(config), path, overrides);
}

std::string run_directory(const json& config) {
  const std::string dir = config["output_dir"].get<std::string>();
  return dir.empty() ? "runs/" + config["name"].get<std::string>() : dir;
}

}  // namespace lpt
