#include "experiments/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "core/error.h"
#include "experiments/run_files.h"

namespace lpt {

namespace {

struct Series {
  std::string label;
  std::string colour;
  std::string dash;  // SVG stroke-dasharray, empty for solid
  std::vector<std::pair<double, double>> points;
};

struct Panel {
  std::string title, y_label;
  std::vector<Series> series;
  std::string x_label = "epoch";
};

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

// Draws one panel at (x0, y0) of size w x h.
void draw_panel(std::ostringstream& svg, const Panel& p, double x0, double y0, double w, double h) {
  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  for (const Series& s : p.series)
    for (auto [x, y] : s.points) {
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  if (xmin > xmax) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double pad = 0.05 * (ymax - ymin);
  ymin -= pad, ymax += pad;
  const double L = x0 + 60, R = x0 + w - 10, T = y0 + 30, B = y0 + h - 40;
  auto X = [&](double x) { return L + (x - xmin) / (xmax - xmin) * (R - L); };
  auto Y = [&](double y) { return B - (y - ymin) / (ymax - ymin) * (B - T); };
  svg << "<text x='" << (L + R) / 2 << "' y='" << y0 + 18 << "' text-anchor='middle' font-size='14'>"
      << escape(p.title) << "</text>\n";
  svg << "<rect x='" << L << "' y='" << T << "' width='" << R - L << "' height='" << B - T
      << "' fill='none' stroke='#888'/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double yv = ymin + (ymax - ymin) * i / 4, xv = xmin + (xmax - xmin) * i / 4;
    svg << "<line x1='" << L << "' x2='" << R << "' y1='" << Y(yv) << "' y2='" << Y(yv)
        << "' stroke='#eee'/>\n<text x='" << L - 5 << "' y='" << Y(yv) + 4
        << "' text-anchor='end' font-size='10'>" << std::setprecision(3) << yv << "</text>\n";
    svg << "<text x='" << X(xv) << "' y='" << B + 14 << "' text-anchor='middle' font-size='10'>"
        << std::setprecision(3) << xv << "</text>\n";
  }
  svg << "<text x='" << (L + R) / 2 << "' y='" << B + 30 << "' text-anchor='middle' font-size='11'>"
      << escape(p.x_label) << "</text>\n";
  svg << "<text x='" << x0 + 14 << "' y='" << (T + B) / 2 << "' font-size='11' transform='rotate(-90 " << x0 + 14
      << " " << (T + B) / 2 << ")' text-anchor='middle'>" << escape(p.y_label) << "</text>\n";
  int row = 0;
  for (const Series& s : p.series) {
    if (s.points.empty()) continue;
    svg << "<polyline fill='none' stroke='" << s.colour << "' stroke-width='1.8'"
        << (s.dash.empty() ? "" : " stroke-dasharray='" + s.dash + "'") << " points='";
    for (auto [x, y] : s.points) svg << X(x) << "," << Y(y) << " ";
    svg << "'/>\n";
    const double ly = T + 12 + 13 * row++;
    svg << "<line x1='" << R - 150 << "' x2='" << R - 125 << "' y1='" << ly - 4 << "' y2='" << ly - 4
        << "' stroke='" << s.colour << "' stroke-width='1.8'"
        << (s.dash.empty() ? "" : " stroke-dasharray='" + s.dash + "'") << "/>\n<text x='" << R - 120 << "' y='"
        << ly << "' font-size='10'>" << escape(s.label) << "</text>\n";
  }
}

// The quantization diagnostics of a run's last epoch that has them (null: none).
json last_diagnostics(const std::vector<json>& metrics) {
  for (auto it = metrics.rbegin(); it != metrics.rend(); ++it)
    if (it->contains("quantization") && !(*it)["quantization"]["layers"].empty()) return (*it)["quantization"]["layers"];
  return nullptr;
}

// Per-layer panels of quantized runs: SQNR and clipped fraction of every layer and role at the
// last epoch, x = the layer's index in name order (the legend below the panels names them), so a gap in
// accuracy can be traced to a layer and a role. Colour by role, dash by run.
void add_quantization_panels(const std::vector<std::string>& run_dirs, Panel& sqnr, Panel& clipped,
                             std::vector<std::string>& layer_names) {
  const char* kDashes[] = {"", "6,3", "2,2", "8,2,2,2"};
  std::vector<std::string> roles;
  for (size_t r = 0; r < run_dirs.size(); ++r) {
    const json d = last_diagnostics(read_metrics(run_dirs[r]));
    if (d.is_null()) continue;
    const std::string run = std::filesystem::path(run_dirs[r]).filename().string();
    std::map<std::string, std::pair<Series, Series>> by_role;
    for (const auto& [layer, per_role] : d.items()) {
      auto pos = std::find(layer_names.begin(), layer_names.end(), layer);
      if (pos == layer_names.end()) pos = layer_names.insert(layer_names.end(), layer);
      const double x = double(pos - layer_names.begin());
      for (const auto& [role, stats] : per_role.items()) {
        if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role);
        const size_t ri = size_t(std::find(roles.begin(), roles.end(), role) - roles.begin());
        auto& [sq, cl] = by_role[role];
        for (Series* s : {&sq, &cl}) {
          s->label = run + " " + role;
          s->colour = kColours[ri % std::size(kColours)];
          s->dash = kDashes[r % std::size(kDashes)];
        }
        if (stats.contains("sqnr_db")) sq.points.emplace_back(x, stats["sqnr_db"].get<double>());
        if (stats.contains("clipped_fraction"))
          cl.points.emplace_back(x, 100.0 * stats["clipped_fraction"].get<double>());
      }
    }
    for (auto& [role, pair] : by_role) {
      std::sort(pair.first.points.begin(), pair.first.points.end());
      std::sort(pair.second.points.begin(), pair.second.points.end());
      sqnr.series.push_back(std::move(pair.first));
      clipped.series.push_back(std::move(pair.second));
    }
  }
}

}  // namespace

void write_report_svg(const std::vector<std::string>& run_dirs, const std::string& out_path) {
  LPT_CHECK(!run_dirs.empty(), "report: no run directories given");
  Panel loss{"Loss", "cross-entropy", {}}, acc{"Accuracy", "accuracy (%)", {}};
  const std::pair<const char*, const char*> splits[] = {{"train", ""}, {"val", "6,3"}, {"test", "2,2"}};
  for (size_t r = 0; r < run_dirs.size(); ++r) {
    const std::vector<json> metrics = read_metrics(run_dirs[r]);
    LPT_CHECK(!metrics.empty(), "report: '", run_dirs[r], "/", run_files::metrics, "' is missing or empty");
    const std::string run = std::filesystem::path(run_dirs[r]).filename().string();
    const std::string colour = kColours[r % std::size(kColours)];
    for (auto [split, dash] : splits) {
      Series ls{run + " " + split, colour, dash, {}}, as{run + " " + split, colour, dash, {}};
      for (const json& m : metrics) {
        const double epoch = m.value("epoch", 0.0);
        const std::string lk = std::string(split) + "_loss", ak = std::string(split) + "_accuracy";
        if (m.contains(lk) && m[lk].is_number()) ls.points.emplace_back(epoch, m[lk].get<double>());
        if (m.contains(ak) && m[ak].is_number()) as.points.emplace_back(epoch, 100.0 * m[ak].get<double>());
      }
      loss.series.push_back(std::move(ls));
      acc.series.push_back(std::move(as));
    }
  }
  Panel sqnr{"Quantization SQNR, last epoch", "SQNR (dB)", {}, "layer"};
  Panel clipped{"Values clipped, last epoch", "clipped (%)", {}, "layer"};
  std::vector<std::string> layers;
  add_quantization_panels(run_dirs, sqnr, clipped, layers);
  const double W = 1000, H = 420, legend = 14.0 * double((layers.size() + 2) / 3);
  const double total = layers.empty() ? H : 2 * H + legend + 20;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << total
      << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  draw_panel(svg, loss, 0, 0, W / 2, H);
  draw_panel(svg, acc, W / 2, 0, W / 2, H);
  if (!layers.empty()) {
    draw_panel(svg, sqnr, 0, H, W / 2, H);
    draw_panel(svg, clipped, W / 2, H, W / 2, H);
    for (size_t i = 0; i < layers.size(); ++i)  // three columns of "index: layer"
      svg << "<text x='" << 20 + double(i % 3) * W / 3 << "' y='" << 2 * H + 14 + 14.0 * double(i / 3)
          << "' font-size='10'>" << i << ": " << escape(layers[i]) << "</text>\n";
  }
  svg << "</svg>\n";
  std::ofstream out(out_path);
  LPT_CHECK(out, "report: cannot write '", out_path, "'");
  out << svg.str();
  LPT_CHECK(out.good(), "report: writing '", out_path, "' failed");
}

}  // namespace lpt
