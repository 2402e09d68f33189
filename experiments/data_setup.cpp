#include "experiments/data_setup.h"

#include "datasets/load.h"
#include "models/models.h"

namespace lpt {

namespace {

struct TrainTest {
  std::shared_ptr<const data::Dataset> train, test;
};

TrainTest load_sets(const json& d, uint64_t seed) {
  data::DatasetOptions o;
  o.folder.crop = d["image_size"];
  o.folder.resize = o.folder.crop * 8 / 7;  // the usual 256 -> 224 ratio
  o.synthetic.size = d["synthetic_size"];
  o.synthetic.seed = seed;
  const std::string kind = d["dataset"], path = d["path"];
  return {data::load_dataset(kind, path, true, o), data::load_dataset(kind, path, false, o)};
}

// One value stands for every channel.
std::vector<float> per_channel(const json& values, int64_t channels, const char* key) {
  std::vector<float> out;
  for (const json& v : values) out.push_back(v.get<float>());
  if (out.size() == 1) out.assign(size_t(channels), out[0]);
  LPT_CHECK(int64_t(out.size()) == channels, "config: /data/normalize/", key, ": ", out.size(),
            " values for ", channels, " channels");
  return out;
}

}  // namespace

DataSplits make_data(const json& config) {
  const json& d = config["data"];
  const uint64_t seed = config["seed"];
  TrainTest sets = load_sets(d, seed);
  LPT_CHECK(sets.train->sample_shape() == sets.test->sample_shape(), "data: training samples are ",
            data::sample_shape_str(sets.train->sample_shape()), " but test samples are ",
            data::sample_shape_str(sets.test->sample_shape()));
  DataSplits out;
  const int64_t val_size = d["validation_size"];
  if (val_size > 0) {
    LPT_CHECK(val_size < sets.train->size(), "config: /data/validation_size: ", val_size,
              " is not smaller than the training set (", sets.train->size(), " images)");
    data::TrainValSplit split = data::split_train_val(sets.train, val_size, seed);
    out.train = split.train;
    out.val = split.val;
  } else {
    out.train = sets.train;
  }
  out.test = sets.test;
  out.num_classes = std::max(sets.train->num_classes(), sets.test->num_classes());

  const data::SampleShape raw = sets.train->sample_shape();
  data::ChannelStats stats{per_channel(d["normalize"]["mean"], raw.c, "mean"),
                           per_channel(d["normalize"]["std"], raw.c, "std")};
  const json& a = d["augment"];
  if (a["random_resized_crop"].get<bool>()) {
    std::vector<std::shared_ptr<const data::Transform>> steps{std::make_shared<data::RandomResizedCrop>(raw.h)};
    if (a["horizontal_flip"].get<bool>()) steps.push_back(std::make_shared<data::RandomHorizontalFlip>());
    steps.push_back(std::make_shared<data::Normalize>(stats.mean, stats.std));
    out.train_transforms = data::Pipeline(std::move(steps));
  } else {
    out.train_transforms = data::standard_train_pipeline(raw, a["random_crop_padding"], a["horizontal_flip"], stats);
  }
  out.eval_transforms = data::standard_eval_pipeline(stats);
  out.shape = out.train_transforms.output_shape(raw);
  return out;
}

std::shared_ptr<Module> make_experiment_model(const json& config, const DataSplits& data, bool initialise) {
  ModelOptions o;
  o.in_channels = data.shape.c;
  o.num_classes = data.num_classes;
  o.input_size = data.shape.h;
  o.width = config["model"]["width"];
  o.dropout = config["model"]["dropout"];
  o.seed = config["seed"];
  const std::string name = config["model"]["name"];
  return initialise ? make_model(name, o) : build_model(name, o);
}

}  // namespace lpt
