// One fp32 training step's gradients of a model from given weights on a given batch: the lpt half
// of experiments/bench/one_step_error_torch.py, which compares them, and PyTorch fp32's, with
// PyTorch in fp64 (issue 14: the accuracy of lpt's fp32 gradients).
//   ./build/experiments/bench/bench_one_step IN.h5 OUT.h5 [--threads 2]
// IN.h5: attribute "model" (a make_model name), datasets state/<state_dict name> for every
// parameter and buffer, batch/x (f32 [N, C, H, W]) and batch/labels (s32 [N]).
// OUT.h5: grad/<parameter name> (f32) after forward in training mode, softmax cross-entropy
// (batch mean) and backward, and the attribute "loss".

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/hdf5.h"
#include "core/ops/loss.h"
#include "core/threads.h"
#include "models/models.h"

namespace lpt {
namespace {

int run(const std::string& in_path, const std::string& out_path) {
  const h5::File in = h5::File::open_read(in_path);
  const Tensor x = in.read("batch/x"), labels = in.read("batch/labels");
  LPT_CHECK(x.shape().size() == 4 && x.size(2) == x.size(3), in_path, ": batch/x is ", x.describe(),
            ", expected square images [N, C, H, W]");
  ModelOptions options;
  options.in_channels = x.size(1);
  options.input_size = x.size(2);
  options.dropout = 0.0f;  // a deterministic step
  const std::shared_ptr<Module> model = build_model(in.attr_string("/", "model"), options);
  auto load = [&](const std::string& name, Tensor& into) {
    const Tensor t = in.read("state/" + name);
    LPT_CHECK(t.shape() == into.shape(), in_path, ": state/", name, " is ", t.describe(), ", the model's is ",
              into.describe());
    into.copy_from(t);
  };
  for (auto& [name, p] : model->named_parameters()) load(name, p.data());
  for (auto& [name, b] : model->named_buffers()) load(name, *b);

  model->train();
  Variable loss = ops::softmax_cross_entropy(model->forward(Variable(x)), labels);
  loss.backward();
  h5::write_atomically(out_path, [&](h5::File& out) {
    out.set_attr("/", "loss", double(loss.data().data<float>()[0]));
    for (const auto& [name, p] : model->named_parameters()) out.write("grad/" + name, p.grad());
  });
  return 0;
}

}  // namespace
}  // namespace lpt

int main(int argc, char** argv) {
  CLI::App app{"lpt's fp32 gradients of one training step, for one_step_error_torch.py"};
  std::string in, out;
  int threads = 2;
  app.add_option("in", in, "weights and batch (HDF5)")->required();
  app.add_option("out", out, "gradients (HDF5), written")->required();
  app.add_option("--threads", threads, "OpenMP threads");
  CLI11_PARSE(app, argc, argv);
  try {
    lpt::set_num_threads(threads);
    return lpt::run(in, out);
  } catch (const lpt::Error& e) {
    std::fprintf(stderr, "bench_one_step: %s\n", e.what());
    return 1;
  }
}
