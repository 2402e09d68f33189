#include "experiments/cli/quantize.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "core/hdf5.h"
#include "experiments/encoded_io.h"
#include "formats/quantize.h"

namespace lpt::cli {

namespace {

struct QuantizeArgs {
  std::string format, in, dataset, out;
  int axis = -1;
  int channel_axis = -1;
  bool has_channel_axis = false;
};

formats::Format read_format(const std::string& spec) {
  if (spec.empty() || spec[0] != '@') return formats::Format::parse_text(spec);
  const std::string path = spec.substr(1);
  std::ifstream f(path);
  LPT_CHECK(f, "quantize: cannot read format file '", path, "'");
  std::stringstream text;
  text << f.rdbuf();
  return formats::Format::parse_text(text.str());
}

// The dataset as written: fake-quantized values under its own name, carrying the format's
// attributes; its codes and scales under encoded/<name>/ with everything needed to decode them.
void write_output(h5::File& out, const QuantizeArgs& a, const Tensor& y, const formats::Encoded& e,
                  const formats::QuantizeStats& stats) {
  const formats::Format& f = e.format;
  out.write(a.dataset, y);
  out.set_attr(a.dataset, "format", f.to_json());
  out.set_attr(a.dataset, "format_name", f.name());
  const std::string group = "encoded/" + a.dataset;
  write_encoded(out, group, e);
  out.set_attr(group, "shape", nlohmann::json(e.shape).dump());
  out.set_attr(group, "sqnr_db", stats.sqnr_db);
}

void run_quantize(const QuantizeArgs& a) {
  const formats::Format requested = read_format(a.format);
  const h5::File in = h5::File::open_read(a.in);
  LPT_CHECK(in.is_dataset(a.dataset), "quantize: '", a.in, "' has no dataset '", a.dataset, "'");
  LPT_CHECK(in.dtype(a.dataset) == DType::f32, "quantize: dataset '", a.dataset, "' in '", a.in, "' is ",
            dtype_name(in.dtype(a.dataset)), ", expected float32");
  const Tensor x = in.read(a.dataset);
  // Outside training nothing says whether the data is a ReLU output: signed "auto" looks at it.
  const std::vector<float> v = x.to_vector();
  const bool nonnegative = std::none_of(v.begin(), v.end(), [](float f) { return f < 0.0f; });
  const formats::Format f = requested.resolved(nonnegative);

  formats::QuantizeStats stats;
  formats::QuantizeOptions o;
  o.axis = a.axis;
  if (a.has_channel_axis) o.channel_axis = a.channel_axis;
  o.name = a.dataset;
  o.stats = &stats;
  const Tensor y = formats::quantize(x, f, o);
  o.stats = nullptr;
  const formats::Encoded e = formats::encode(x, f, o);
  h5::write_atomically(a.out, [&](h5::File& out) { write_output(out, a, y, e, stats); });
  std::cout << "quantize: " << a.dataset << " " << shape_str(x.shape()) << " as " << f.name() << " ("
            << f.bits_per_value() << " bits/value), SQNR " << stats.sqnr_db << " dB -> " << a.out << "\n";
}

}  // namespace

void add_quantize_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Fake-quantize a float32 HDF5 dataset; writes the values and their encoded form (codes, scales)");
  cmd->add_option("--format", args->format, "number format as JSON, or @FILE holding it")->required();
  cmd->add_option("--in", args->in, "input HDF5 file")->required();
  cmd->add_option("--dataset", args->dataset, "dataset to quantize (also its name in the output)")->required();
  cmd->add_option("--out", args->out, "output HDF5 file")->required();
  cmd->add_option("--axis", args->axis, "axis the vectors / blocks run along (default: the last)");
  CLI::Option* channel = cmd->add_option("--channel-axis", args->channel_axis,
                                         "axis of per-channel scales (per-channel INT/LNS, two-level INT's γ)");
  cmd->callback([args, channel, &exit_code] {
    args->has_channel_axis = channel->count() > 0;
    run_quantize(*args);
    exit_code = 0;
  });
}

}  // namespace lpt::cli
