// `lpt quantize` end to end: runs the binary on a small HDF5 file and checks what it writes and
// how it fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/hdf5.h"
#include "formats/encode.h"
#include "formats/quantize.h"
#include "tests/support/format_tensor_testing.h"

namespace lpt::formats {
namespace {

namespace fs = std::filesystem;

struct CliResult {
  int status;
  std::string err;
};

class FormatQuantizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lpt_quantize_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    x_ = testing::bumpy_tensor({4, 40}, 17);
    h5::File f = h5::File::create(path("in.h5"));
    f.write("model/fc.weight", x_);
    f.write("labels", Tensor::zeros({3}, DType::s32));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  CliResult run(const std::string& args) const {
    const std::string err = path("stderr.txt");
    const std::string cmd = std::string(LPT_BINARY) + " quantize " + args + " > " + path("stdout.txt") + " 2> " + err;
    const int status = std::system(cmd.c_str());
    std::ifstream e(err);
    std::stringstream text;
    text << e.rdbuf();
    return {status, text.str()};
  }

  fs::path dir_;
  Tensor x_;
};

TEST_F(FormatQuantizeCli, WritesValuesCodesScalesAndAttributes) {
  const std::string json = R"({"type":"int","bits":4,"granularity":"vector","vector_size":16,"scale_bits":4})";
  const CliResult r = run("--format '" + json + "' --in " + path("in.h5") + " --dataset model/fc.weight --out " +
                          path("out.h5") + " --axis 1 --channel-axis 0");
  ASSERT_EQ(r.status, 0) << r.err;
  // "auto" signedness resolves from the data (it has negative values: signed).
  const Format f = Format::parse_text(json).resolved(false);
  QuantizeOptions o;
  o.axis = 1;
  o.channel_axis = 0;
  const h5::File out = h5::File::open_read(path("out.h5"));
  EXPECT_TRUE(testing::bitwise_equal(out.read("model/fc.weight"), quantize(x_, f, o)));
  EXPECT_EQ(out.attr_string("model/fc.weight", "format_name"), "int4-pv16-s4");
  EXPECT_EQ(Format::parse_text(out.attr_string("model/fc.weight", "format")), f);
  const std::string g = "encoded/model/fc.weight";
  EXPECT_EQ(out.attr_double(g, "bits_per_value"), 4.25);
  EXPECT_EQ(out.attr_int(g, "axis"), 1);
  EXPECT_EQ(out.attr_int(g, "channel_axis"), 0);
  EXPECT_EQ(out.attr_int(g, "padded_elements"), 4 * 8);
  for (const EncodedArray& a : encoded_arrays(encode(x_, f, o))) {
    const Tensor got = out.read(g + "/" + a.name);
    ASSERT_EQ(got.shape(), a.data.shape()) << a.name;
    EXPECT_EQ(std::memcmp(got.raw_data(), a.data.raw_data(), a.data.nbytes()), 0) << a.name;
  }
  EXPECT_EQ(out.attr_int(g + "/codes", "code_bits"), 4);
}

TEST_F(FormatQuantizeCli, ReadsTheFormatFromAFileAndDefaultsToTheLastAxis) {
  std::ofstream(path("fmt.json")) << R"({"type":"mx","element":"fp4_e2m1"})";
  const CliResult r = run("--format @" + path("fmt.json") + " --in " + path("in.h5") +
                          " --dataset model/fc.weight --out " + path("out.h5"));
  ASSERT_EQ(r.status, 0) << r.err;
  const h5::File out = h5::File::open_read(path("out.h5"));
  EXPECT_TRUE(testing::bitwise_equal(out.read("model/fc.weight"),
                                     quantize(x_, Format::parse_text(R"({"type":"mx","element":"fp4_e2m1"})"))));
  EXPECT_EQ(out.read("encoded/model/fc.weight/scales").shape(), (Shape{4, 2}));
}

TEST_F(FormatQuantizeCli, ErrorsExitNonZeroWithAClearMessage) {
  const std::string io = " --in " + path("in.h5") + " --out " + path("out.h5");
  const std::string int4 = " --format '{\"type\":\"int\",\"bits\":4}'";
  CliResult r = run(int4 + io + " --dataset missing");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("no dataset 'missing'"), std::string::npos) << r.err;
  r = run(int4 + io + " --dataset labels");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("expected float32"), std::string::npos) << r.err;
  r = run(" --format '{\"type\":\"int\",\"bitz\":4}'" + io + " --dataset model/fc.weight");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown key 'bitz'"), std::string::npos) << r.err;
  r = run(" --format '{\"type\":\"int\",\"granularity\":\"channel\"}'" + io + " --dataset model/fc.weight");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("channel axis"), std::string::npos) << r.err;
  r = run(int4 + io + " --dataset model/fc.weight --axis 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("axis 2 out of range"), std::string::npos) << r.err;
  r = run(" --format @" + path("nope.json") + io + " --dataset model/fc.weight");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("nope.json"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("out.h5")));
}

}  // namespace
}  // namespace lpt::formats
