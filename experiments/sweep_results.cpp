#include "experiments/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/durable_file.h"
#include "core/error.h"
#include "experiments/plot.h"
#include "experiments/report.h"
#include "experiments/run_files.h"
#include "formats/format.h"

namespace lpt::sweep {

namespace fs = std::filesystem;

namespace {

// ---- Results -------------------------------------------------------------------------------------

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100 * fraction);
  return buf;
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The nominal bits per value (scale overheads included) of a quantization role's global format;
// fp32 (null) is 32.
double role_bits(const json& config, const char* role) {
  const json& f = config["quantization"][role];
  return f.is_null() ? 32.0 : formats::Format::parse(f).bits_per_value();
}

std::string mac_share_text(const json& share) {
  if (!share.is_object() || share.empty()) return "";
  std::vector<std::pair<double, std::string>> parts;
  for (const auto& [precision, s] : share.items()) parts.emplace_back(s.get<double>(), precision);
  std::sort(parts.rbegin(), parts.rend());
  std::vector<std::string> out;
  for (const auto& [s, precision] : parts) out.push_back(precision + " " + fixed(100 * s, 1) + "%");
  return join(out, "; ");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string md_field(std::string s) {
  for (size_t p = 0; (p = s.find('|', p)) != std::string::npos; p += 2) s.replace(p, 1, "\\|");
  return s;
}

struct Row {
  const Run* run;
  const Record* record;  // null: never run
  RunSummary summary;
  bool has_metrics = false;
};

// The plot's x: "bits_per_value" (the weights' format), "activation_bits", a label of the run
// names (its value names, read as numbers where they are), or a config key. The pointer is the
// config key x stands for (the axes at or around it are on x, not series).
struct PlotX {
  std::string label, pointer;
  const char* role = nullptr;  // bits per value of this quantization role's format; null: the config value
  bool is_label = false;       // x is the run names' part of this label
};
PlotX plot_axis(const Grid& grid, const std::string& x, const std::string& what) {
  if (x == "bits_per_value") return {"weight bits per value", "/quantization/weights", "weights"};
  if (x == "activation_bits") return {"activation bits per value", "/quantization/activations", "activations"};
  if (std::find(grid.labels.begin(), grid.labels.end(), x) != grid.labels.end()) return {x, "", nullptr, true};
  const std::string p = pointer(key_path(x, what));
  return {p, p};
}

bool on_x(const Axis& a, const PlotX& x) {
  const std::string p = pointer(a.path);
  const auto within = [](const std::string& inner, const std::string& outer) {
    return inner == outer || inner.rfind(outer + "/", 0) == 0;
  };
  return within(p, x.pointer) || within(x.pointer, p);
}

// Whether `group` moves the plot's x (then its labels are not series).
bool moves_x(const AxisGroup& group, const PlotX& x) {
  if (x.is_label)
    return std::find(group.labels.begin(), group.labels.end(), x.label) != group.labels.end() ||
           std::any_of(group.axes.begin(), group.axes.end(),
                       [&](const Axis& a) { return group.names.empty() && a.label == x.label; });
  return std::any_of(group.axes.begin(), group.axes.end(), [&](const Axis& a) { return on_x(a, x); });
}

// A value name as a number ("4", "0.05"), or nullopt.
std::optional<double> number_name(const std::string& name) {
  char* end = nullptr;
  const double v = std::strtod(name.c_str(), &end);
  return !name.empty() && *end == '\0' && std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

plot::Panel accuracy_panel(const Grid& grid, const std::vector<Row>& rows, const std::string& x_key,
                           const std::string& reference, std::vector<plot::LegendEntry>& legend) {
  const PlotX x = plot_axis(grid, x_key, "sweep: plot x '" + x_key + "'");
  // Series: the runs' values on the axes not on x (a zipped group moves together).
  std::vector<std::string> series_labels = grid.plot_series;
  if (series_labels.empty())
    for (const AxisGroup& g : grid.groups) {
      if (moves_x(g, x)) continue;
      if (!g.names.empty()) series_labels.insert(series_labels.end(), g.labels.begin(), g.labels.end());
      else
        for (const Axis& a : g.axes) series_labels.push_back(a.label);
    }
  const auto is_fp32 = [](const Run& r) {
    const json& q = r.config["quantization"];
    return q["weights"].is_null() && q["activations"].is_null() && q["errors"].is_null() &&
           q["weight_gradients"].is_null() && q["layers"].empty();
  };
  std::vector<double> fp32_accuracies;
  std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> series;  // in grid order
  std::vector<std::string> categories;  // x values that are not numbers, in grid order
  const auto category = [&](const std::string& name) {
    auto it = std::find(categories.begin(), categories.end(), name);
    if (it == categories.end()) it = categories.insert(categories.end(), name);
    return double(it - categories.begin());
  };
  bool any_number = false;
  for (const Row& row : rows) {
    if (!row.has_metrics || std::isnan(row.summary.final_test_accuracy)) continue;
    const Run& r = *row.run;
    const double y = 100 * row.summary.final_test_accuracy;
    if (is_fp32(r)) fp32_accuracies.push_back(y);
    if (is_fp32(r) && x.role) continue;  // 32 bits would squeeze the quantized runs into a corner
    double xv;
    if (x.role) {
      xv = role_bits(r.config, x.role);
    } else if (x.is_label) {
      const auto part = std::find_if(r.parts.begin(), r.parts.end(), [&](const auto& p) { return p.first == x.label; });
      const std::optional<double> v = number_name(part->second);
      any_number |= v.has_value();
      xv = v ? *v : category(part->second);
    } else {
      const json::json_pointer p(x.pointer);
      LPT_CHECK(r.config.contains(p), "sweep: plot x '", x_key, "': run '", r.name, "' has no ", x.pointer);
      const json& v = r.config[p];
      any_number |= v.is_number();
      xv = v.is_number() ? v.get<double>() : category(value_name(x.pointer, v));
    }
    std::vector<std::string> key;
    for (const auto& [label, name] : r.parts)
      if (std::find(series_labels.begin(), series_labels.end(), label) != series_labels.end())
        key.push_back(label + "=" + name);
    const std::string name = key.empty() ? "all runs" : join(key, ",");
    auto it = std::find_if(series.begin(), series.end(), [&](const auto& s) { return s.first == name; });
    if (it == series.end()) it = series.insert(series.end(), {name, {}});
    it->second.emplace_back(xv, y);
  }
  LPT_CHECK(categories.empty() || !any_number, "sweep: plot x '", x_key, "': mixes numbers and other values across runs");
  plot::Panel p{.title = "Test accuracy (final epoch)",
                .x = {.label = x.label, .categories = categories},
                .y = {.label = "test accuracy (%)", .bounds = {{0, 100}}}};
  size_t i = 0;
  for (auto& [name, points] : series) {
    std::sort(points.begin(), points.end());
    p.series.push_back({.colour = plot::colour(i), .marker = plot::Marker::circle, .points = points});
    legend.push_back({.label = name, .colour = plot::colour(i), .marker = plot::Marker::circle});
    ++i;
  }
  if (!reference.empty()) {
    const ReportRun ref = read_report_run(reference);
    const RunSummary s = summarize_run(ref);
    LPT_CHECK(!std::isnan(s.final_test_accuracy), "sweep: reference run '", reference, "' has no test accuracy");
    p.reference_y = 100 * s.final_test_accuracy;
    legend.push_back({.label = "reference: " + ref.name, .colour = 0x888888});
  } else if (!fp32_accuracies.empty()) {
    double sum = 0;
    for (double a : fp32_accuracies) sum += a;
    p.reference_y = sum / double(fp32_accuracies.size());
    legend.push_back({.label = "fp32 (reference)", .colour = 0x888888});
  }
  return p;
}

}  // namespace

void check_plot_x(const Grid& grid, const std::string& x, const std::string& what) { plot_axis(grid, x, what); }

std::string plot_x(const Grid& grid, const std::vector<Run>& runs, const std::string& requested) {
  std::string x = !requested.empty() ? requested : grid.plot_x;
  if (x.empty()) {
    const bool quantized = std::any_of(runs.begin(), runs.end(), [](const Run& r) { return !r.config["quantization"]["weights"].is_null(); });
    x = quantized ? "bits_per_value" : grid.groups[0].axes[0].key;
  }
  check_plot_x(grid, x, "sweep: --x");
  return x;
}

Outputs write_results(const Grid& grid, const std::vector<Run>& runs, const State& state, const std::string& x,
                      const std::string& reference, const std::string& plot_path) {
  std::vector<Row> rows;
  for (const Run& run : runs) {
    Row row{&run, state.find(run.identity), {}, false};
    if (row.record && fs::is_regular_file(row.record->dir + "/" + run_files::metrics) &&
        !read_metrics(row.record->dir).empty()) {
      row.summary = summarize_run(read_report_run(row.record->dir));
      row.has_metrics = true;
    }
    rows.push_back(row);
  }
  std::vector<std::string> header = {"run"};
  for (const auto& [label, name] : runs.at(0).parts) header.push_back(label);
  for (const char* h : {"status", "epochs", "test_acc_%", "best_test_acc_%", "val_acc_%", "images_per_s",
                        "weight_bits", "activation_bits", "mac_share", "error", "dir"})
    header.push_back(h);
  std::vector<std::vector<std::string>> table;
  for (const Row& row : rows) {
    const Run& r = *row.run;
    std::vector<std::string> cells = {r.name};
    for (const auto& [label, name] : r.parts) cells.push_back(name);
    const RunSummary& s = row.summary;
    cells.push_back(row.record ? row.record->status : "not run");
    cells.push_back((row.has_metrics ? std::to_string(s.epochs) : "0") + "/" +
                    std::to_string(r.config["training"]["epochs"].get<int64_t>()));
    cells.push_back(percent(s.final_test_accuracy));
    cells.push_back(percent(s.best_test_accuracy));
    cells.push_back(percent(s.final_val_accuracy));
    cells.push_back(fixed(s.images_per_second, 0));
    cells.push_back(fixed(role_bits(r.config, "weights"), 3));
    cells.push_back(fixed(role_bits(r.config, "activations"), 3));
    cells.push_back(mac_share_text(s.mac_share));
    cells.push_back(row.record && row.record->status == "failed" ? row.record->error : "");
    cells.push_back(row.record ? row.record->dir : "");
    table.push_back(cells);
  }
  Outputs out{grid.dir + "/results.csv", grid.dir + "/results.md", plot_path.empty() ? grid.dir + "/results.svg" : plot_path};
  std::string csv = join([&] {
    std::vector<std::string> h;
    for (const std::string& c : header) h.push_back(csv_field(c));
    return h;
  }(), ",") + "\n";
  std::string md = "| " + join(header, " | ") + " |\n|" + [&] {
    std::string s;
    for (size_t i = 0; i < header.size(); ++i) s += "---|";
    return s;
  }() + "\n";
  for (const auto& cells : table) {
    std::vector<std::string> c, m;
    for (const std::string& cell : cells) c.push_back(csv_field(cell)), m.push_back(md_field(cell));
    csv += join(c, ",") + "\n";
    md += "| " + join(m, " | ") + " |\n";
  }
  durable::write_text(out.csv, csv);
  durable::write_text(out.markdown, md);

  plot::Figure f;
  std::vector<plot::LegendEntry> legend;
  f.rows.push_back({accuracy_panel(grid, rows, x, reference, legend)});
  f.legend.push_back({.label = "Series"});
  for (auto& e : legend) f.legend.push_back(std::move(e));
  plot::render(f, out.svg);
  return out;
}

}  // namespace lpt::sweep
