// Parameter and buffer names and shapes of every model against the PyTorch state_dict of the same
// architecture (torchvision 0.14's resnet18/34/50 and mobilenet_v2; reference definitions below for
// the CIFAR ResNets and MobileNetV1). The expected values come from this snippet, run as
//   /usr/bin/python3 gen.py layout     (the kLayouts rows)
//   /usr/bin/python3 gen.py names resnet20 1 10 28 1.0   (one model's full list, to diff with a failure)
//   /usr/bin/python3 gen.py forward    (tests/model_forward_test.cpp's kPyTorchLogits rows)
//
//   import math, torch, torch.nn as nn, torch.nn.functional as F, torchvision.models as tv
//   from torchvision.models._utils import _make_divisible
//
//   class Block(nn.Module):  # CIFAR BasicBlock, option-B (1x1 conv + BN) shortcut
//       def __init__(s, i, o, stride):
//           super().__init__()
//           s.conv1, s.bn1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
//           s.conv2, s.bn2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
//           s.downsample = (nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
//                           if stride != 1 or i != o else nn.Identity())
//       def forward(s, x):
//           return F.relu(s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x))))) + s.downsample(x))
//
//   class CifarResNet(nn.Module):
//       def __init__(s, depth, cin, k):
//           super().__init__()
//           n, i = (depth - 2) // 6, 16
//           s.conv1, s.bn1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
//           for L, (o, st) in enumerate([(16, 1), (32, 2), (64, 2)], 1):
//               setattr(s, f"layer{L}", nn.Sequential(*[Block(i if b == 0 else o, o, st if b == 0 else 1) for b in range(n)]))
//               i = o
//           s.fc = nn.Linear(64, k)
//       def forward(s, x):
//           x = s.layer3(s.layer2(s.layer1(F.relu(s.bn1(s.conv1(x))))))
//           return s.fc(x.mean((2, 3)))
//
//   def imagenet_resnet(depth, cin, k, size):
//       m = getattr(tv, f"resnet{depth}")(num_classes=k)
//       m.conv1 = nn.Conv2d(cin, 64, 3, 1, 1, bias=False) if size <= 32 else nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
//       if size <= 32: m.maxpool = nn.Identity()
//       return m
//
//   def mobilenet_v2(cin, k, width, size, dropout=0.2):
//       m = tv.mobilenet_v2(num_classes=k, width_mult=width, dropout=dropout)
//       m.features[0][0] = nn.Conv2d(cin, m.features[0][0].out_channels, 3, 1 if size <= 32 else 2, 1, bias=False)
//       return m
//
//   class MobileNetV1(nn.Module):
//       def __init__(s, cin, k, width, size):
//           super().__init__()
//           c, i = (lambda x: _make_divisible(x * width, 8)), _make_divisible(32 * width, 8)
//           feats = [nn.Sequential(nn.Conv2d(cin, i, 3, 1 if size <= 32 else 2, 1, bias=False), nn.BatchNorm2d(i), nn.ReLU())]
//           for o, st in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]:
//               feats.append(nn.Sequential(nn.Conv2d(i, i, 3, st, 1, groups=i, bias=False), nn.BatchNorm2d(i), nn.ReLU(),
//                                          nn.Conv2d(i, c(o), 1, bias=False), nn.BatchNorm2d(c(o)), nn.ReLU()))
//               i = c(o)
//           s.features, s.classifier = nn.Sequential(*feats), nn.Linear(i, k)
//       def forward(s, x):
//           return s.classifier(s.features(x).mean((2, 3)))
//
//   def make(name, cin, k, size, width=1.0, dropout=0.2):
//       if name == "mobilenet_v1": return MobileNetV1(cin, k, width, size)
//       if name == "mobilenet_v2": return mobilenet_v2(cin, k, width, size, dropout)
//       d = int(name[6:])
//       return imagenet_resnet(d, cin, k, size) if d in (18, 34, 50) else CifarResNet(d, cin, k)
//
//   def fnv1a(s, h=1469598103934665603):
//       for b in s.encode(): h = ((h ^ b) * 1099511628211) % 2**64
//       return h
//
//   def layout(m):  # what the C++ test hashes: parameters then buffers, "name[d0,d1]\n" each
//       p = "".join(f"{n}[{','.join(map(str, t.shape))}]\n" for n, t in m.named_parameters())
//       b = "".join(f"{n}[{','.join(map(str, t.shape))}]\n" for n, t in m.named_buffers())
//       return (len(list(m.parameters())), sum(t.numel() for t in m.parameters()), len(list(m.buffers())),
//               sum(t.numel() for t in m.buffers()), fnv1a(p + b))
//
//   import sys
//   if sys.argv[1] == "layout":
//       cases = [(f"resnet{d}", 1, 10, 28, 1.0) for d in (20, 32, 44, 56, 110)] + [("resnet20", 3, 100, 32, 1.0)]
//       cases += [(f"resnet{d}", 3, 1000, 224, 1.0) for d in (18, 34, 50)] + [(f"resnet{d}", 1, 10, 28, 1.0) for d in (18, 34, 50)]
//       cases += [("mobilenet_v2", 3, 1000, 224, 1.0), ("mobilenet_v2", 1, 10, 28, 0.5), ("mobilenet_v2", 3, 10, 32, 1.4),
//                 ("mobilenet_v1", 3, 1000, 224, 1.0), ("mobilenet_v1", 1, 10, 28, 0.5)]
//       for c in cases:
//           print('    {"%s", %d, %d, %d, %.1ff, %d, %d, %d, %d, 0x%016xull},' % (c + layout(make(*c))))
//
//   if sys.argv[1] == "names":  # a model's full layout, to diff against the C++ test's failure output
//       m = make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
//       for n, t in list(m.named_parameters()) + list(m.named_buffers()): print(f"{n}[{','.join(map(str, t.shape))}]")
//
//   def pseudo_random(i, k):  # element i of parameter k in [-0.2, 0.2): an integer hash, exact in C++ too
//       u = (i * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9 + 1) % 2**64
//       u = ((u ^ (u >> 31)) * 0x94D049BB133111EB) % 2**64
//       u ^= u >> 29
//       return ((u >> 40) / 16777216 - 0.5) * 0.4
//
//   if sys.argv[1] == "forward":  # training-mode logits, in float64, of float32 weights set by pseudo_random
//       for name, cin, k, size, width in [("resnet20", 3, 10, 32, 1.0), ("resnet18", 1, 10, 28, 1.0), ("resnet18", 3, 10, 64, 1.0),
//                                         ("resnet50", 1, 10, 28, 1.0), ("mobilenet_v2", 3, 10, 32, 1.0),
//                                         ("mobilenet_v2", 1, 10, 64, 0.5), ("mobilenet_v1", 3, 10, 64, 0.5)]:
//           m = make(name, cin, k, size, width, dropout=0.0).train().double()
//           with torch.no_grad():
//               for kk, (n, p) in enumerate(m.named_parameters()):
//                   p.copy_(torch.tensor([pseudo_random(i, kk) for i in range(p.numel())]).view(p.shape))
//               x = torch.tensor([0.5 * math.sin(0.37 * i) for i in range(2 * cin * size * size)]).view(2, cin, size, size)
//               y = m(x.double())
//           v = ["%.6ef" % v for v in y.flatten().tolist()]
//           print('    {"%s", %d, %d, %.1ff,\n     {' % (name, cin, size, width) + ",\n      ".join(", ".join(v[j:j + 5]) for j in range(0, 20, 5)) + "}},")

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/philox.h"
#include "models/models.h"

namespace lpt {
namespace {

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

// "name[d0,d1]\n" for every parameter, then every buffer: what gen.py's layout() hashes.
std::string layout_text(Module& m) {
  std::string out;
  for (const auto& [name, p] : m.named_parameters()) out += name + shape_text(p.shape()) + "\n";
  for (const auto& [name, b] : m.named_buffers()) out += name + shape_text(b->shape()) + "\n";
  return out;
}

struct Layout {
  const char* model;
  int64_t in_channels, num_classes, input_size;
  float width;
  int64_t parameters, parameter_elements, buffers, buffer_elements;
  uint64_t hash;  // FNV-1a of layout_text
};

void PrintTo(const Layout& l, std::ostream* os) {
  *os << l.model << " in_channels " << l.in_channels << " input_size " << l.input_size << " width " << l.width;
}

// Rows from `gen.py layout`: ImageNet-size ResNets and MobileNets are torchvision's exact
// state_dicts; the 28x28 ResNet-18/34/50 have the CIFAR-style conv1 [64, C, 3, 3].
constexpr Layout kLayouts[] = {
    {"resnet20", 1, 10, 28, 1.0f, 65, 272186, 63, 1589, 0xa78d5e908d8f3f1full},
    {"resnet32", 1, 10, 28, 1.0f, 101, 466618, 99, 2497, 0xc29ccf3dc94e16a1ull},
    {"resnet44", 1, 10, 28, 1.0f, 137, 661050, 135, 3405, 0xfc6e3de68c18cf0bull},
    {"resnet56", 1, 10, 28, 1.0f, 173, 855482, 171, 4313, 0xb1ff3ff4e795f465ull},
    {"resnet110", 1, 10, 28, 1.0f, 335, 1730426, 333, 8399, 0xe23c7153bd2544f7ull},
    {"resnet20", 3, 100, 32, 1.0f, 65, 278324, 63, 1589, 0x13d4c12b15119777ull},
    {"resnet18", 3, 1000, 224, 1.0f, 62, 11689512, 60, 9620, 0x93c6374ff470d5f2ull},
    {"resnet34", 3, 1000, 224, 1.0f, 110, 21797672, 108, 17060, 0x03ed3100748b67f8ull},
    {"resnet50", 3, 1000, 224, 1.0f, 161, 25557032, 159, 53173, 0x5005d93a03041eeeull},
    {"resnet18", 1, 10, 28, 1.0f, 62, 11172810, 60, 9620, 0x5fe7e1a84cc42c3cull},
    {"resnet34", 1, 10, 28, 1.0f, 110, 21280970, 108, 17060, 0x4b684e6f98357a02ull},
    {"resnet50", 1, 10, 28, 1.0f, 161, 23519690, 159, 53173, 0xbfe74f05b0224458ull},
    {"mobilenet_v2", 3, 1000, 224, 1.0f, 158, 3504872, 156, 34164, 0x94d3e64277d2d467ull},
    {"mobilenet_v2", 1, 10, 28, 0.5f, 158, 700202, 156, 18596, 0xeebcc0849e6c6d6aull},
    {"mobilenet_v2", 3, 10, 32, 1.4f, 158, 4333706, 156, 47988, 0x01f43f37e4b47634ull},
    {"mobilenet_v1", 3, 1000, 224, 1.0f, 83, 4231976, 81, 21915, 0xec8f7bc07f5519f2ull},
    {"mobilenet_v1", 1, 10, 28, 0.5f, 83, 823434, 81, 10971, 0x45e395890cd34e0cull},
};

// build_model: names and shapes do not depend on the initial values, which take seconds to draw for
// the big ResNets.
std::shared_ptr<Module> build(const Layout& c) {
  return build_model(c.model, {.in_channels = c.in_channels, .num_classes = c.num_classes,
                              .input_size = c.input_size, .width = c.width});
}

class ModelLayout : public ::testing::TestWithParam<Layout> {};

TEST_P(ModelLayout, NamesAndShapesEqualPyTorchStateDict) {
  const Layout& c = GetParam();
  const auto m = build(c);
  int64_t parameter_elements = 0, buffer_elements = 0;
  for (const auto& [name, p] : m->named_parameters()) parameter_elements += p.data().numel();
  for (const auto& [name, b] : m->named_buffers()) buffer_elements += b->numel();
  EXPECT_EQ(int64_t(m->named_parameters().size()), c.parameters);
  EXPECT_EQ(parameter_elements, c.parameter_elements);
  EXPECT_EQ(int64_t(m->named_buffers().size()), c.buffers);
  EXPECT_EQ(buffer_elements, c.buffer_elements);
  const std::string text = layout_text(*m);
  EXPECT_EQ(stable_hash(text.c_str()), c.hash) << "diff with gen.py names:\n" << text;
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelLayout, ::testing::ValuesIn(kLayouts),
                         [](const ::testing::TestParamInfo<Layout>& info) {
                           return std::string(info.param.model) + "_in" + std::to_string(info.param.in_channels) +
                                  "_size" + std::to_string(info.param.input_size) + "_width" +
                                  std::to_string(int(info.param.width * 10));
                         });

// A few entries spelled out (from `gen.py names ...`), so a failure above has readable company.
std::map<std::string, std::string> shapes_by_name(Module& m) {
  std::map<std::string, std::string> out;
  for (const auto& [name, p] : m.named_parameters()) out[name] = shape_text(p.shape());
  for (const auto& [name, b] : m.named_buffers()) out[name] = shape_text(b->shape());
  return out;
}

void expect_entries(const std::string& model, const ModelOptions& o,
                    const std::vector<std::pair<std::string, std::string>>& expected) {
  const auto m = build_model(model, o);
  const auto shapes = shapes_by_name(*m);
  for (const auto& [name, shape] : expected) {
    const auto it = shapes.find(name);
    if (it == shapes.end()) ADD_FAILURE() << model << " has no " << name;
    else EXPECT_EQ(it->second, shape) << model << " " << name;
  }
}

TEST(ModelLayoutEntries, CifarResNet) {
  expect_entries("resnet20", {}, {{"conv1.weight", "[16,1,3,3]"},
                                  {"layer1.0.conv1.weight", "[16,16,3,3]"},
                                  {"layer2.0.downsample.0.weight", "[32,16,1,1]"},
                                  {"layer2.0.downsample.1.running_mean", "[32]"},
                                  {"layer2.0.downsample.1.num_batches_tracked", "[]"},
                                  {"layer3.2.bn2.bias", "[64]"},
                                  {"fc.weight", "[10,64]"},
                                  {"fc.bias", "[10]"}});
}

TEST(ModelLayoutEntries, TorchvisionResNet50) {
  expect_entries("resnet50", {.in_channels = 3, .num_classes = 1000, .input_size = 224},
                 {{"conv1.weight", "[64,3,7,7]"},
                  {"layer1.0.conv3.weight", "[256,64,1,1]"},
                  {"layer1.0.downsample.0.weight", "[256,64,1,1]"},
                  {"layer2.0.conv2.weight", "[128,128,3,3]"},
                  {"layer4.2.bn3.running_var", "[2048]"},
                  {"fc.weight", "[1000,2048]"}});
}

TEST(ModelLayoutEntries, MobileNetV2) {
  expect_entries("mobilenet_v2", {.in_channels = 3, .num_classes = 1000, .input_size = 224},
                 {{"features.0.0.weight", "[32,3,3,3]"},
                  {"features.1.conv.0.0.weight", "[32,1,3,3]"},
                  {"features.1.conv.1.weight", "[16,32,1,1]"},
                  {"features.1.conv.2.running_var", "[16]"},
                  {"features.2.conv.2.weight", "[24,96,1,1]"},
                  {"features.2.conv.3.weight", "[24]"},
                  {"features.18.1.num_batches_tracked", "[]"},
                  {"classifier.1.weight", "[1000,1280]"}});
}

TEST(ModelLayoutEntries, MobileNetV1) {
  expect_entries("mobilenet_v1", {.in_channels = 3, .num_classes = 1000, .input_size = 224},
                 {{"features.0.0.weight", "[32,3,3,3]"},
                  {"features.1.0.weight", "[32,1,3,3]"},
                  {"features.1.1.weight", "[32]"},
                  {"features.1.3.weight", "[64,32,1,1]"},
                  {"features.1.4.weight", "[64]"},
                  {"features.13.4.running_mean", "[1024]"},
                  {"classifier.weight", "[1000,1024]"}});
}

}  // namespace
}  // namespace lpt
