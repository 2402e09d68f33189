// `lpt report` and its plotting module: the rendered PNG is decoded and looked at — every run's
// colour inside the data areas, nothing outside the panels and the legend, nice tick labels,
// layers in forward order — and the axis code's ticks are checked on their own.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <png.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "experiments/plot.h"
#include "experiments/report.h"
#include "experiments/run_files.h"
#include "support/run_lpt.h"
#include "support/test_helpers.h"

namespace lpt {
namespace {

using testing::TempDir;

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  plot::Colour at(int x, int y) const {
    const uint8_t* p = &rgb[3 * (size_t(y) * size_t(width) + size_t(x))];
    return plot::Colour(p[0]) << 16 | plot::Colour(p[1]) << 8 | p[2];
  }
};

Image read_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_file(&image, path.c_str())) << path;
  image.format = PNG_FORMAT_RGB;
  Image out{int(image.width), int(image.height), std::vector<uint8_t>(PNG_IMAGE_SIZE(image))};
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, out.rgb.data(), 0, nullptr)) << path;
  return out;
}

bool inside(const plot::Rect& r, int x, int y) {
  return x + 0.5 >= r.x && x + 0.5 <= r.x + r.w && y + 0.5 >= r.y && y + 0.5 <= r.y + r.h;
}

// How many pixels of exactly this colour lie inside r.
int count_colour(const Image& img, const plot::Rect& r, plot::Colour c) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) n += inside(r, x, y) && img.at(x, y) == c;
  return n;
}

// Pixels that are not white outside every panel's cell and the legend: drawing that spills.
int drawn_outside(const Image& img, const plot::Layout& l) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      bool in = inside(l.legend, x, y);
      for (const plot::PanelLayout& p : l.panels) in |= inside(p.cell, x, y);
      n += !in && img.at(x, y) != 0xffffff;
    }
  return n;
}

// A step of 1, 2 or 5 × 10^k, every tick a multiple of it, and labels with just the decimals the
// step needs (no 0.30000000000000004, no 25.3).
void expect_nice(const plot::Ticks& t, const std::string& what) {
  ASSERT_FALSE(t.values.empty()) << what;
  const double mantissa = t.step / std::pow(10.0, std::floor(std::log10(t.step) + 1e-9));
  EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9)
      << what << ": step " << t.step;
  const int decimals = std::max(0, -int(std::floor(std::log10(t.step) + 1e-9)));
  for (size_t i = 0; i < t.values.size(); ++i) {
    EXPECT_NEAR(t.values[i] / t.step, std::round(t.values[i] / t.step), 1e-6) << what << ": " << t.values[i];
    EXPECT_NEAR(std::strtod(t.labels[i].c_str(), nullptr), t.values[i], t.step * 1e-6) << what << ": " << t.labels[i];
    const size_t dot = t.labels[i].find('.');
    EXPECT_EQ(dot == std::string::npos ? 0 : int(t.labels[i].size() - dot - 1), decimals) << what << ": " << t.labels[i];
  }
}

TEST(PlotTicks, StepsOfOneTwoFiveWithOnlyTheDecimalsNeeded) {
  plot::Axis a;
  const plot::Ticks loss = plot::axis_ticks(0.141, 0.761, a, 7);
  expect_nice(loss, "loss");
  EXPECT_EQ(loss.labels, (std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8"}));
  plot::Axis percent{.bounds = {{0, 100}}};
  const plot::Ticks acc = plot::axis_ticks(2, 94.9, percent, 7);
  EXPECT_EQ(acc.labels, (std::vector<std::string>{"0", "20", "40", "60", "80", "100"}));
  const plot::Ticks zoom = plot::axis_ticks(90.9, 91.3, percent, 7);
  expect_nice(zoom, "zoom");
  EXPECT_EQ(zoom.labels.front(), "90.9");
  EXPECT_EQ(zoom.labels.back(), "91.3");
  for (double lo : {-3.7, 0.0, 1e-4, 7.0, 2e5})
    for (double span : {1e-3, 0.37, 1.0, 12.5, 999.0}) {
      const plot::Ticks t = plot::axis_ticks(lo, lo + span, a, 7);
      expect_nice(t, std::to_string(lo) + "+" + std::to_string(span));
      EXPECT_LE(t.lo, lo);
      EXPECT_GE(t.hi, lo + span);
      EXPECT_LE(t.values.size(), 8u);
    }
}

TEST(PlotTicks, IntegerAxesTickWholeNumbersAndOneEpochIsCentred) {
  const plot::Axis epochs{.integer = true};
  const plot::Ticks one = plot::axis_ticks(1, 1, epochs, 8);
  EXPECT_EQ(one.values, std::vector<double>{1});
  EXPECT_LT(one.lo, 1);
  EXPECT_GT(one.hi, 1);
  EXPECT_EQ(plot::axis_ticks(1, 3, epochs, 8).labels, (std::vector<std::string>{"1", "2", "3"}));
  const plot::Ticks many = plot::axis_ticks(1, 90, epochs, 8);
  expect_nice(many, "90 epochs");
  EXPECT_GE(many.step, 1);
  const plot::Axis layers{.categories = {"conv1", "layer1.0.conv1", "fc"}};
  const plot::Ticks l = plot::axis_ticks(0, 2, layers, 8);
  EXPECT_EQ(l.values, (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(l.labels, layers.categories);
}

// What a sweep's accuracy-against-bits plot needs: numeric x, one series per format, and the fp32
// accuracy as a reference line inside the axis range.
TEST(PlotRender, AccuracyAgainstBitsWithAnFp32ReferenceLine) {
  TempDir dir("plot_bits");
  plot::Panel p{.title = "Accuracy against bits", .x = {.label = "bits", .integer = true},
                .y = {.label = "test accuracy (%)", .bounds = {{0, 100}}}, .reference_y = 91.7};
  p.series.push_back({.colour = plot::colour(0), .marker = plot::Marker::circle, .points = {{2, 62.5}, {4, 89.9}, {8, 91.4}}});
  p.series.push_back({.colour = plot::colour(1), .marker = plot::Marker::square, .points = {{2, 70.1}, {4, 90.3}, {8, 91.6}}});
  const plot::Layout l = plot::render({.rows = {{p}}, .legend = {{.label = "int, per channel"}}}, dir.file("bits.png"));
  const Image img = read_png(dir.file("bits.png"));
  ASSERT_EQ(l.panels.size(), 1u);
  for (size_t s : {0, 1}) EXPECT_GT(count_colour(img, l.panels[0].data, plot::colour(s)), 20) << s;
  EXPECT_GT(count_colour(img, l.panels[0].data, 0x888888), int(l.panels[0].data.w) / 2);  // the reference line
  expect_nice(l.panels[0].y_ticks, "accuracy");
  EXPECT_GE(l.panels[0].y_ticks.hi, 91.7);
  EXPECT_EQ(l.panels[0].x_ticks.labels, (std::vector<std::string>{"2", "3", "4", "5", "6", "7", "8"}));
  EXPECT_EQ(drawn_outside(img, l), 0);

  // Wide x labels (the last one centred on the frame's right end) stay inside the panel.
  p.series[0].points = {{0, 50}, {12345678, 60}};
  const plot::Layout wide = plot::render({.rows = {{p, p}}, .legend = {{.label = "int"}}}, dir.file("wide.png"));
  EXPECT_EQ(wide.panels[0].x_ticks.labels.back(), "14000000");
  EXPECT_EQ(drawn_outside(read_png(dir.file("wide.png")), wide), 0);
  EXPECT_LE(wide.panels[0].cell.x + wide.panels[0].cell.w, wide.panels[1].cell.x);
}

// Three runs as in the issue: fp32 over 5 epochs, a 1-epoch QAT run, and a quantized run whose
// final validation accuracy is 0.2 points from fp32's. Layers are recorded in forward order,
// which is not name order.
class Report : public ::testing::Test {
 protected:
  TempDir dir_{"report"};
  const std::vector<std::string> layers_{"conv1", "layer1.0.conv1", "layer1.0.conv2", "fc"};

  // `shift` moves the run's loss, train accuracy and SQNR, so runs do not hide each other.
  std::string run(const std::string& name, int epochs, double final_val, bool quantized, double shift = 0) {
    const std::string d = dir_.file(name);
    std::filesystem::create_directories(d);
    for (int e = 1; e <= epochs; ++e) {
      const double f = double(e) / epochs;
      json m{{"epoch", e},
             {"train_loss", 1.6 - 1.3 * f + shift},
             {"train_accuracy", 0.4 + 0.5 * f - shift / 10},
             {"val_loss", 1.5 - 1.2 * f},
             {"val_accuracy", final_val / 100 - 0.3 * (1 - f)},
             {"test_accuracy", final_val / 100 - 0.005 - 0.3 * (1 - f)}};
      if (quantized) {
        json q = json::object();
        for (size_t i = 0; i < layers_.size(); ++i)
          q[layers_[i]] = {{"weights", {{"sqnr_db", 20.0 + double(i) + 10 * shift}, {"clipped_fraction", 0.001 * double(i) + shift / 10}}},
                           {"activations", {{"sqnr_db", 15.0 + double(i)}, {"clipped_fraction", 0.02}}}};
        m["quantization"] = {{"layers", q}, {"layer_order", layers_}};
      }
      append_metrics(d, m);
    }
    return d;
  }
};

TEST_F(Report, EveryRunIsDrawnInsideItsPanelsWithNiceAxesAndLayersInForwardOrder) {
  const std::vector<std::string> runs{run("resnet20_fp32", 5, 91.2, false), run("octav_qat", 1, 40, true, 0.1),
                                      run("resnet20_hbfp_booster_with_a_long_name", 5, 91.0, true, 0.2)};
  const plot::Figure f = report_figure(runs);
  const std::string png = dir_.file("report.png");
  const plot::Layout l = plot::render(f, png);
  if (const char* keep = std::getenv("LPT_REPORT_TEST_PNG"))  // LPT_REPORT_TEST_PNG=FILE: keep it to look at
    std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing);
  const Image img = read_png(png);
  ASSERT_EQ(img.width, int(l.width));
  ASSERT_EQ(img.height, int(l.height));
  ASSERT_EQ(f.rows.size(), 2u);
  ASSERT_EQ(f.rows[0].size(), 3u);  // loss, accuracy, accuracy zoomed
  ASSERT_EQ(l.panels.size(), 5u);

  // Every run, the one-epoch run too, is in the loss and accuracy panels.
  for (size_t r = 0; r < runs.size(); ++r)
    for (size_t p : {0, 1}) EXPECT_GT(count_colour(img, l.panels[p].data, plot::colour(r)), 10) << runs[r] << " panel " << p;
  // The zoom shows the two best runs 0.2 points apart, at least 20 pixels apart.
  const plot::PanelLayout& zoom = l.panels[2];
  for (size_t r : {0, 2}) EXPECT_GT(count_colour(img, zoom.data, plot::colour(r)), 10) << runs[r];
  EXPECT_GE(0.2 / (zoom.y_ticks.hi - zoom.y_ticks.lo) * zoom.data.h, 20) << zoom.y_ticks.lo << ".." << zoom.y_ticks.hi;
  // Quantized runs in the layer panels.
  for (size_t r : {1, 2})
    for (size_t p : {3, 4}) EXPECT_GT(count_colour(img, l.panels[p].data, plot::colour(r)), 10) << runs[r] << " panel " << p;

  // Run colours only inside data areas and the legend; nothing at all outside cells and legend.
  int stray = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      bool in_data = inside(l.legend, x, y);
      for (const plot::PanelLayout& p : l.panels) in_data |= inside(p.data, x, y);
      for (size_t r = 0; r < runs.size(); ++r) stray += !in_data && img.at(x, y) == plot::colour(r);
    }
  EXPECT_EQ(stray, 0);
  EXPECT_EQ(drawn_outside(img, l), 0);
  for (const plot::PanelLayout& p : l.panels) {
    EXPECT_LE(p.cell.x + p.cell.w, l.legend.x);
    EXPECT_LE(p.cell.y + p.cell.h, l.height);
  }
  EXPECT_LE(l.legend.x + l.legend.w, l.width);

  // Nice ticks; percentages from 0 up at most 100; epochs and layers whole numbers.
  for (size_t p = 0; p < 5; ++p) expect_nice(l.panels[p].y_ticks, "panel " + std::to_string(p) + " y");
  for (size_t p : {1, 2, 4}) {
    EXPECT_GE(l.panels[p].y_ticks.lo, 0) << p;
    EXPECT_LE(l.panels[p].y_ticks.hi, 100) << p;
  }
  for (size_t p = 0; p < 5; ++p)
    for (double v : l.panels[p].x_ticks.values) EXPECT_EQ(v, std::round(v)) << "panel " << p;
  for (size_t p : {3, 4}) {
    EXPECT_EQ(l.panels[p].x_ticks.labels, layers_);
    EXPECT_EQ(l.panels[p].x_ticks.values, (std::vector<double>{0, 1, 2, 3}));
  }

  // One legend entry per run, whole names; the line styles once.
  std::vector<std::string> labels;
  for (const plot::LegendEntry& e : f.legend) labels.push_back(e.label);
  for (const char* name : {"resnet20_fp32", "octav_qat", "resnet20_hbfp_booster_with_a_long_name", "train",
                                  "validation", "test", "weights", "activations"})
    EXPECT_EQ(std::count(labels.begin(), labels.end(), name), 1) << name;
}

// A layer with every role (LNS-Madam's and requantize_backward's seven): one marker shape per role
// in the legend, so no two roles look alike.
TEST_F(Report, EveryRoleHasItsOwnMarker) {
  const std::string d = dir_.file("all_roles");
  std::filesystem::create_directories(d);
  const std::vector<std::string> roles{"weights",          "activations",  "errors.data",        "errors.weights",
                                       "weight_gradients", "weights.data", "activations.weights"};
  json layer = json::object();
  for (const std::string& r : roles) layer[r] = {{"sqnr_db", 30.0}, {"clipped_fraction", 0.01}};
  append_metrics(d, {{"epoch", 1}, {"train_loss", 1.0}, {"train_accuracy", 0.5}, {"val_loss", 1.0}, {"val_accuracy", 0.5},
                     {"quantization", {{"layers", {{"conv1", layer}}}, {"layer_order", {"conv1"}}}}});
  const plot::Figure f = report_figure({d});
  std::set<plot::Marker> markers;
  size_t entries = 0;
  for (const plot::LegendEntry& e : f.legend)
    if (std::find(roles.begin(), roles.end(), e.label) != roles.end()) ++entries, markers.insert(e.marker);
  EXPECT_EQ(entries, roles.size());
  EXPECT_EQ(markers.size(), roles.size());
  EXPECT_FALSE(markers.contains(plot::Marker::none));
}

TEST_F(Report, AOneEpochRunAloneIsAMarkerAtEpochOne) {
  const std::string one = run("one", 1, 50, false);
  const plot::Layout l = plot::render(report_figure({one}), dir_.file("one.png"));
  const Image img = read_png(dir_.file("one.png"));
  EXPECT_EQ(l.panels[0].x_ticks.values, std::vector<double>{1});
  for (size_t p = 0; p < 3; ++p) EXPECT_GT(count_colour(img, l.panels[p].data, plot::colour(0)), 10) << p;
}

TEST_F(Report, WritesSvgAndNamesTheFileOrPathThatIsWrong) {
  const std::string a = run("a", 2, 80, true);
  const std::vector<std::string> panels = write_report({a}, dir_.file("r.svg"));
  EXPECT_EQ(panels.size(), 5u);
  const std::string svg = testing::file_text(dir_.file("r.svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);

  std::string e = testing::error_of([&] { write_report({a}, dir_.file("r.gif")); });
  EXPECT_NE(e.find("r.gif"), std::string::npos) << e;
  EXPECT_NE(e.find(".svg or .png"), std::string::npos) << e;
  e = testing::error_of([&] { write_report({dir_.path()}, dir_.file("r.png")); });
  EXPECT_NE(e.find(dir_.path() + "/metrics.jsonl' does not exist"), std::string::npos) << e;
  const std::string bad = dir_.file("bad");
  std::filesystem::create_directories(bad);
  std::ofstream(bad + "/metrics.jsonl") << "{\"epoch\": 1, \"train_loss\": 0.5}\n{\"epoch\": 2, \"train_loss\n";
  e = testing::error_of([&] { write_report({bad}, dir_.file("r.png")); });
  EXPECT_NE(e.find(bad + "/metrics.jsonl"), std::string::npos) << e;
  std::ofstream(bad + "/metrics.jsonl") << "{\"epoch\": 1, \"train_loss\": \"low\"}\n";
  e = testing::error_of([&] { write_report({bad}, dir_.file("r.png")); });
  EXPECT_NE(e.find(bad + "/metrics.jsonl': \"train_loss\" of epoch 1 is not a number"), std::string::npos) << e;
}

TEST_F(Report, CliPicksTheFormatByExtensionAndRejectsOthers) {
  const std::string a = run("a", 2, 80, false);
  testing::CliRun r = testing::run_lpt("report " + a + " -o " + dir_.file("c.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Loss; Accuracy; Accuracy: best runs' last epochs"), std::string::npos) << r.output;
  EXPECT_EQ(read_png(dir_.file("c.png")).width > 0, true);
  r = testing::run_lpt("report " + a + " -o " + dir_.file("c.jpg"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("c.jpg': unknown image type '.jpg', expected a name ending in .svg or .png"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace lpt
