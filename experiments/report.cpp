#include "experiments/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "experiments/run_files.h"

namespace lpt {

namespace fs = std::filesystem;

double number(const ReportRun& run, const json& m, const std::string& key) {
  if (!m.contains(key) || m[key].is_null()) return NAN;
  LPT_CHECK(m[key].is_number(), "report: '", run.metrics_path, "': \"", key, "\" of epoch ", m.value("epoch", json()).dump(),
            " is not a number: ", m[key].dump());
  return m[key].get<double>();
}

ReportRun read_report_run(const std::string& dir) {
  ReportRun r{dir, "", (fs::path(dir) / run_files::metrics).string(), {}};
  LPT_CHECK(fs::is_regular_file(r.metrics_path), "report: '", r.metrics_path, "' does not exist (not a run directory?)");
  r.metrics = read_metrics(dir);
  LPT_CHECK(!r.metrics.empty(), "report: '", r.metrics_path, "' holds no epochs");
  for (const json& m : r.metrics)
    LPT_CHECK(m.is_object() && !std::isnan(number(r, m, "epoch")), "report: '", r.metrics_path,
              "': a line without an \"epoch\" number: ", m.dump().substr(0, 80));
  fs::path p(dir);
  if (p.filename().empty()) p = p.parent_path();  // "runs/a/"
  r.name = p.filename().string();
  return r;
}

RunSummary summarize_run(const ReportRun& run) {
  RunSummary out;
  double seconds = 0, images = 0;
  for (const json& m : run.metrics) {
    out.epochs = int64_t(number(run, m, "epoch"));
    const double test = number(run, m, "test_accuracy"), val = number(run, m, "val_accuracy");
    if (!std::isnan(test)) out.final_test_accuracy = test, out.best_test_accuracy = std::fmax(out.best_test_accuracy, test);
    if (!std::isnan(val)) out.final_val_accuracy = val;
    // Images over seconds of all epochs, not a mean of per-epoch rates: a short resumed epoch
    // weighs by its length.
    const double s = number(run, m, "train_seconds"), ips = number(run, m, "train_images_per_second");
    if (!std::isnan(s) && !std::isnan(ips)) seconds += s, images += s * ips;
    if (m.contains("quantization") && m["quantization"].contains("mac_share")) out.mac_share = m["quantization"]["mac_share"];
  }
  if (seconds > 0) out.images_per_second = images / seconds;
  return out;
}


namespace {

using plot::Dash;
using plot::Marker;

struct Split {
  const char* key;   // metrics key prefix
  const char* name;  // in the legend
  Dash dash;
};
constexpr Split kSplits[] = {{"train", "train", Dash::solid}, {"val", "validation", Dash::dashed}, {"test", "test", Dash::dotted}};
// One shape per role: a layer has at most seven (weights, activations, errors.data, errors.weights,
// weight_gradients, weights.data, activations.weights).
constexpr Marker kRoleMarkers[] = {Marker::circle,        Marker::square, Marker::triangle, Marker::diamond,
                                   Marker::triangle_down, Marker::cross,  Marker::plus};
// The zoomed panel shows the final validation/test values within this many points of the best one:
// the runs a reader compares, not a diverged one that would stretch the axis.
constexpr double kZoomWindow = 3;
constexpr plot::Colour kGrey = 0x555555;  // legend samples of line styles and markers

using Run = ReportRun;

std::vector<Run> read_runs(const std::vector<std::string>& dirs) {
  LPT_CHECK(!dirs.empty(), "report: no run directories given");
  std::vector<Run> runs;
  for (const std::string& dir : dirs) runs.push_back(read_report_run(dir));
  std::vector<std::string> names;
  for (const Run& r : runs) names.push_back(r.name);
  for (Run& r : runs)  // two runs named alike (a/fp32, b/fp32): the paths as given tell them apart
    if (std::count(names.begin(), names.end(), r.name) > 1) r.name = r.dir;
  return runs;
}

// Loss and accuracy per epoch, one colour per run and one dash per split; then the accuracy
// panel's zoom on the best final validation/test values.
std::vector<plot::Panel> curve_panels(const std::vector<Run>& runs) {
  const plot::Axis epochs{.label = "epoch", .integer = true};
  plot::Panel loss{.title = "Loss", .x = epochs, .y = {.label = "cross-entropy", .bounds = {{0, INFINITY}}}};
  plot::Panel acc{.title = "Accuracy", .x = epochs, .y = {.label = "accuracy (%)", .bounds = {{0, 100}}}};
  for (size_t r = 0; r < runs.size(); ++r)
    for (const Split& s : kSplits) {
      plot::Series ls{.colour = plot::colour(r), .dash = s.dash}, as = ls;
      for (const json& m : runs[r].metrics) {
        const double epoch = number(runs[r], m, "epoch");
        const double l = number(runs[r], m, std::string(s.key) + "_loss");
        const double a = number(runs[r], m, std::string(s.key) + "_accuracy");
        if (!std::isnan(l)) ls.points.emplace_back(epoch, l);
        if (!std::isnan(a)) as.points.emplace_back(epoch, 100 * a);
      }
      if (!ls.points.empty()) loss.series.push_back(std::move(ls));
      if (!as.points.empty()) acc.series.push_back(std::move(as));
    }
  std::vector<const plot::Series*> finals;  // validation/test accuracy series, for the zoom
  for (const plot::Series& s : acc.series)
    if (s.dash != Dash::solid) finals.push_back(&s);
  if (finals.empty()) return {loss, acc};

  double best = -INFINITY;
  for (const plot::Series* s : finals) best = std::max(best, s->points.back().second);
  double y0 = INFINITY, y1 = -INFINITY, x0 = INFINITY, x1 = -INFINITY;
  for (const plot::Series* s : finals) {
    const auto [epoch, value] = s->points.back();
    if (value < best - kZoomWindow) continue;
    y0 = std::min(y0, value), y1 = std::max(y1, value);
    x0 = std::min(x0, std::max(s->points.front().first, epoch - 2)), x1 = std::max(x1, epoch);  // its last 3 epochs
  }
  const double pad = std::max(0.1, 0.15 * (y1 - y0));
  plot::Panel zoom = acc;
  zoom.title = "Accuracy: best runs' last epochs";
  zoom.x.view = {x0, x1};
  zoom.y.view = {y0 - pad, y1 + pad};
  return {loss, acc, zoom};
}

// The layers of a run's diagnostics in forward order ("layer_order", written since it exists;
// older runs: name order).
std::vector<std::string> layer_order(const Run& run, const json& q) {
  if (q.contains("layer_order")) return q["layer_order"].get<std::vector<std::string>>();
  std::vector<std::string> order;
  std::fprintf(stderr, "lpt: warning: '%s' does not record the layers' forward order: layers of run %s in name order\n",
               run.metrics_path.c_str(), run.name.c_str());
  for (const auto& [name, d] : q["layers"].items()) order.push_back(name);
  return order;
}

// SQNR and clipped percentage per layer at each quantized run's last diagnosed epoch: colour by
// run, marker by role. `roles` receives the roles in marker order.
std::vector<plot::Panel> layer_panels(const std::vector<Run>& runs, std::vector<std::string>& roles) {
  plot::Panel sqnr{.title = "Quantization SQNR, last epoch", .x = {.label = "layer"}, .y = {.label = "SQNR (dB)"}};
  plot::Panel clipped{.title = "Values clipped, last epoch", .x = {.label = "layer"},
                      .y = {.label = "clipped (%)", .bounds = {{0, 100}}}};
  std::vector<std::string>& layers = sqnr.x.categories;
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto last = std::find_if(runs[r].metrics.rbegin(), runs[r].metrics.rend(), [](const json& m) {
      return m.contains("quantization") && !m["quantization"].value("layers", json::object()).empty();
    });
    if (last == runs[r].metrics.rend()) continue;
    const json& q = (*last)["quantization"];
    std::vector<std::pair<plot::Series, plot::Series>> by_role;  // (SQNR, clipped), as `roles`
    for (const std::string& layer : layer_order(runs[r], q)) {
      if (std::find(layers.begin(), layers.end(), layer) == layers.end()) layers.push_back(layer);
      const double x = double(std::find(layers.begin(), layers.end(), layer) - layers.begin());
      const json per_role = q["layers"].value(layer, json::object());
      for (const auto& [role, stats] : per_role.items()) {
        if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role);
        const size_t i = size_t(std::find(roles.begin(), roles.end(), role) - roles.begin());
        if (by_role.size() <= i) by_role.resize(i + 1);
        auto& [sq, cl] = by_role[i];
        sq.colour = cl.colour = plot::colour(r);
        sq.marker = cl.marker = kRoleMarkers[i % std::size(kRoleMarkers)];
        const double s = number(runs[r], stats, "sqnr_db"), c = number(runs[r], stats, "clipped_fraction");
        if (!std::isnan(s)) sq.points.emplace_back(x, s);
        if (!std::isnan(c)) cl.points.emplace_back(x, 100 * c);
      }
    }
    for (auto& [sq, cl] : by_role) {
      if (!sq.points.empty()) sqnr.series.push_back(std::move(sq));
      if (!cl.points.empty()) clipped.series.push_back(std::move(cl));
    }
  }
  if (layers.empty()) return {};
  clipped.x.categories = layers;
  return {sqnr, clipped};
}

}  // namespace

plot::Figure report_figure(const std::vector<std::string>& run_dirs) {
  const std::vector<Run> runs = read_runs(run_dirs);
  plot::Figure f;
  f.rows.push_back(curve_panels(runs));
  std::vector<std::string> roles;
  std::vector<plot::Panel> layers = layer_panels(runs, roles);
  if (!layers.empty()) f.rows.push_back(std::move(layers));

  // One entry per run; the line styles and role markers explained once, in grey.
  const auto heading = [&f](const std::string& s) { f.legend.push_back({.label = s}); };
  heading("Runs");
  for (size_t r = 0; r < runs.size(); ++r)
    f.legend.push_back({.label = runs[r].name, .colour = plot::colour(r), .marker = Marker::circle});
  heading("");
  heading("Curves");
  for (const Split& s : kSplits) f.legend.push_back({.label = s.name, .colour = kGrey, .dash = s.dash});
  if (!roles.empty()) {
    heading("");
    heading("Per layer: role");
    for (size_t i = 0; i < roles.size(); ++i)
      f.legend.push_back({.label = roles[i], .colour = kGrey, .marker = kRoleMarkers[i % std::size(kRoleMarkers)], .line = false});
  }
  return f;
}

std::vector<std::string> write_report(const std::vector<std::string>& run_dirs, const std::string& out_path) {
  const plot::Figure f = report_figure(run_dirs);
  plot::render(f, out_path);
  std::vector<std::string> titles;
  for (const auto& row : f.rows)
    for (const plot::Panel& p : row) titles.push_back(p.title);
  return titles;
}

}  // namespace lpt
