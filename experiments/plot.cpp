#include "experiments/plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace lpt::plot {

namespace {

constexpr double kCellWidth = 380, kCellHeight = 300;  // a panel with its labels, before text needs more
constexpr double kCategoryWidth = 14;                  // per layer name, rotated on the x axis
constexpr double kInset = 6;   // between the frame and the data range, so edge markers stay whole
constexpr double kGap = 12;    // around cells and the legend
constexpr double kTick = 11, kLabel = 12, kTitle = 13;  // font sizes
constexpr double kLegendRow = 18, kSample = 34;

using Context = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;
using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

void set_colour(cairo_t* cr, Colour c) {
  cairo_set_source_rgb(cr, double(c >> 16 & 255) / 255, double(c >> 8 & 255) / 255, double(c & 255) / 255);
}

// Text measured and drawn the same way on every surface: hint metrics off, so widths measured on
// an image surface hold for the SVG surface too.
void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_font_options_t* o = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(o, CAIRO_HINT_METRICS_OFF);
  cairo_set_font_options(cr, o);
  cairo_font_options_destroy(o);
}

double text_width(cairo_t* cr, const std::string& s, double size, bool bold = false) {
  set_font(cr, size, bold);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Draws s with its anchor (0: left, 0.5: centre, 1: right end) at (x, y) on the baseline, turned by
// `angle` radians.
void draw_text(cairo_t* cr, const std::string& s, double x, double y, double size, double anchor = 0,
               double angle = 0, bool bold = false) {
  const double w = text_width(cr, s, size, bold);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -anchor * w, 0);
  set_colour(cr, 0x222222);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

void set_dash(cairo_t* cr, Dash d) {
  static const double dashed[] = {6, 3.5}, dotted[] = {1.8, 2.4};
  if (d == Dash::dashed) cairo_set_dash(cr, dashed, 2, 0);
  else if (d == Dash::dotted) cairo_set_dash(cr, dotted, 2, 0);
  else cairo_set_dash(cr, nullptr, 0, 0);
}

void draw_marker(cairo_t* cr, Marker m, double x, double y) {
  const double r = 3.6;
  if (m == Marker::circle) cairo_arc(cr, x, y, r, 0, 2 * M_PI);
  else if (m == Marker::square) cairo_rectangle(cr, x - r * 0.9, y - r * 0.9, 1.8 * r, 1.8 * r);
  else if (m == Marker::triangle) {
    cairo_move_to(cr, x, y - 1.2 * r), cairo_line_to(cr, x + 1.1 * r, y + 0.8 * r);
    cairo_line_to(cr, x - 1.1 * r, y + 0.8 * r), cairo_close_path(cr);
  } else if (m == Marker::diamond) {
    cairo_move_to(cr, x, y - 1.3 * r), cairo_line_to(cr, x + 1.1 * r, y);
    cairo_line_to(cr, x, y + 1.3 * r), cairo_line_to(cr, x - 1.1 * r, y), cairo_close_path(cr);
  } else if (m == Marker::triangle_down) {
    cairo_move_to(cr, x, y + 1.2 * r), cairo_line_to(cr, x + 1.1 * r, y - 0.8 * r);
    cairo_line_to(cr, x - 1.1 * r, y - 0.8 * r), cairo_close_path(cr);
  } else if (m == Marker::cross || m == Marker::plus) {  // strokes, solid whatever the series' dash
    const double a = m == Marker::cross ? 0.9 * r : 1.2 * r, b = m == Marker::cross ? a : 0.0;
    cairo_save(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_set_line_width(cr, 1.8);
    cairo_move_to(cr, x - a, y - b), cairo_line_to(cr, x + a, y + b);
    cairo_move_to(cr, x - b, y + a), cairo_line_to(cr, x + b, y - a);
    cairo_stroke(cr);
    cairo_restore(cr);
    return;
  } else {
    return;
  }
  cairo_fill(cr);
}

// The data range of a panel's series along x (first) or y.
std::pair<double, double> data_range(const Panel& p, bool x) {
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : p.series)
    for (const auto& pt : s.points) {
      const double v = x ? pt.first : pt.second;
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  if (!x && p.reference_y) lo = std::min(lo, *p.reference_y), hi = std::max(hi, *p.reference_y);
  return {lo, hi};
}

struct Margins {
  double left, bottom, right;
};

Margins margins(cairo_t* cr, const Panel& p, const Ticks& xt, const Ticks& yt) {
  double y_tick = 0, x_tick = 0;
  for (const std::string& l : yt.labels) y_tick = std::max(y_tick, text_width(cr, l, kTick));
  if (!p.x.categories.empty())  // names turned upright under the axis
    for (const std::string& l : xt.labels) x_tick = std::max(x_tick, text_width(cr, l, kTick));
  else
    x_tick = kTick;
  // The last numeric x label is centred on its tick, kInset from the frame: room for its right half.
  const double right = p.x.categories.empty() && !xt.labels.empty() ? text_width(cr, xt.labels.back(), kTick) / 2 - kInset : 0;
  return {y_tick + kLabel + 16, x_tick + kLabel + 16, std::max(kGap, right + 2)};
}

Rect legend_size(cairo_t* cr, const std::vector<LegendEntry>& legend) {
  double w = 0;
  for (const LegendEntry& e : legend)
    w = std::max(w, (e.colour ? kSample + 8 : 0) + text_width(cr, e.label, kLabel, !e.colour));
  return {0, 0, legend.empty() ? 0 : w + 2 * kGap, kLegendRow * double(legend.size()) + kGap};
}

Layout layout(cairo_t* cr, const Figure& f) {
  Layout out;
  double top = 0;
  for (const std::vector<Panel>& row : f.rows) {
    std::vector<PanelLayout> cells;
    std::vector<Margins> m;
    double bottom = 0, x = 0;
    for (const Panel& p : row) {
      const auto [x0, x1] = data_range(p, true);
      const auto [y0, y1] = data_range(p, false);
      PanelLayout c{{}, {}, axis_ticks(x0, x1, p.x, 8), axis_ticks(y0, y1, p.y, 7)};
      m.push_back(margins(cr, p, c.x_ticks, c.y_ticks));
      bottom = std::max(bottom, m.back().bottom);
      const double w = std::max({kCellWidth, m.back().left + kCategoryWidth * double(p.x.categories.size()) + m.back().right,
                                 text_width(cr, p.title, kTitle) + 2 * kGap});
      c.cell = {x, top, w, 0};
      x += w;
      cells.push_back(std::move(c));
    }
    const double h = kCellHeight - kTick - kLabel - 16 + bottom;
    for (size_t i = 0; i < cells.size(); ++i) {
      Rect& cell = cells[i].cell;
      cell.h = h;
      cells[i].data = {cell.x + m[i].left, cell.y + kTitle + 14, cell.w - m[i].left - m[i].right, h - kTitle - 14 - bottom};
      out.panels.push_back(std::move(cells[i]));
    }
    out.width = std::max(out.width, x);
    top += h;
  }
  out.legend = legend_size(cr, f.legend);
  out.legend.x = out.width, out.legend.y = kGap;
  out.width = std::ceil(out.width + out.legend.w);
  out.height = std::ceil(std::max(top, out.legend.y + out.legend.h));
  return out;
}

void draw_panel(cairo_t* cr, const Panel& p, const PanelLayout& l) {
  const Rect& d = l.data;
  const double inset = p.x.categories.empty() ? kInset : 0;
  const auto X = [&](double v) { return d.x + inset + (v - l.x_ticks.lo) / (l.x_ticks.hi - l.x_ticks.lo) * (d.w - 2 * inset); };
  const auto Y = [&](double v) { return d.y + d.h - kInset - (v - l.y_ticks.lo) / (l.y_ticks.hi - l.y_ticks.lo) * (d.h - 2 * kInset); };
  cairo_set_line_width(cr, 1);
  set_dash(cr, Dash::solid);
  set_colour(cr, 0xebebeb);  // grid
  for (double v : l.y_ticks.values) cairo_move_to(cr, d.x, Y(v)), cairo_line_to(cr, d.x + d.w, Y(v));
  for (double v : l.x_ticks.values) cairo_move_to(cr, X(v), d.y), cairo_line_to(cr, X(v), d.y + d.h);
  cairo_stroke(cr);

  cairo_save(cr);
  cairo_rectangle(cr, d.x, d.y, d.w, d.h);
  cairo_clip(cr);  // a zoomed panel's other points end at the frame
  if (p.reference_y) {
    const double y = std::round(Y(*p.reference_y));  // on pixel edges: two crisp rows
    set_colour(cr, 0x888888), cairo_set_line_width(cr, 2);
    cairo_move_to(cr, d.x, y), cairo_line_to(cr, d.x + d.w, y);
    cairo_stroke(cr);
  }
  cairo_set_line_width(cr, 1.8);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (const Series& s : p.series) {
    if (s.points.empty()) continue;
    set_colour(cr, s.colour);
    set_dash(cr, s.dash);
    for (const auto& [x, y] : s.points) cairo_line_to(cr, X(x), Y(y));
    cairo_stroke(cr);
    for (const auto& [x, y] : s.points) draw_marker(cr, s.marker, X(x), Y(y));
    if (s.marker == Marker::none) draw_marker(cr, Marker::circle, X(s.points.back().first), Y(s.points.back().second));
  }
  cairo_restore(cr);

  set_dash(cr, Dash::solid);
  cairo_set_line_width(cr, 1);
  set_colour(cr, 0x999999);
  cairo_rectangle(cr, d.x + 0.5, d.y + 0.5, d.w - 1, d.h - 1);
  for (double v : l.y_ticks.values) cairo_move_to(cr, d.x - 4, Y(v)), cairo_line_to(cr, d.x, Y(v));
  for (double v : l.x_ticks.values) cairo_move_to(cr, X(v), d.y + d.h), cairo_line_to(cr, X(v), d.y + d.h + 4);
  cairo_stroke(cr);
  for (size_t i = 0; i < l.y_ticks.values.size(); ++i)
    draw_text(cr, l.y_ticks.labels[i], d.x - 6, Y(l.y_ticks.values[i]) + kTick * 0.35, kTick, 1);
  const bool upright = !p.x.categories.empty();
  for (size_t i = 0; i < l.x_ticks.values.size(); ++i) {
    const double x = X(l.x_ticks.values[i]);
    if (upright) draw_text(cr, l.x_ticks.labels[i], x + kTick * 0.35, d.y + d.h + 7, kTick, 1, -M_PI / 2);
    else draw_text(cr, l.x_ticks.labels[i], x, d.y + d.h + 6 + kTick, kTick, 0.5);
  }
  draw_text(cr, p.title, d.x + d.w / 2, l.cell.y + kTitle + 4, kTitle, 0.5, 0, true);
  draw_text(cr, p.x.label, d.x + d.w / 2, l.cell.y + l.cell.h - 6, kLabel, 0.5);
  draw_text(cr, p.y.label, l.cell.x + kLabel + 2, d.y + d.h / 2, kLabel, 0.5, -M_PI / 2);
}

void draw_legend(cairo_t* cr, const std::vector<LegendEntry>& legend, const Rect& r) {
  double y = r.y + kLegendRow;
  for (const LegendEntry& e : legend) {
    const double x = r.x + kGap;
    if (e.colour) {
      set_colour(cr, *e.colour);
      if (e.line) {
        cairo_set_line_width(cr, 1.8);
        set_dash(cr, e.dash);
        cairo_move_to(cr, x, y - 4), cairo_line_to(cr, x + kSample, y - 4);
        cairo_stroke(cr);
      }
      draw_marker(cr, e.marker, x + kSample / 2, y - 4);
      draw_text(cr, e.label, x + kSample + 8, y, kLabel);
    } else {
      draw_text(cr, e.label, x, y, kLabel, 0, 0, true);
    }
    y += kLegendRow;
  }
}

}  // namespace

Colour colour(size_t i) {
  static const Colour kTableau[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                    0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
  return kTableau[i % std::size(kTableau)];
}

Ticks axis_ticks(double lo, double hi, const Axis& axis, int max_ticks) {
  Ticks t;
  if (!axis.categories.empty()) {
    t.lo = -0.5, t.hi = double(axis.categories.size()) - 0.5;
    for (size_t i = 0; i < axis.categories.size(); ++i) t.values.push_back(double(i));
    t.labels = axis.categories;
    return t;
  }
  if (axis.view) std::tie(lo, hi) = *axis.view;
  if (!(lo <= hi)) lo = 0, hi = 1;  // no data
  const bool single = hi - lo <= 1e-9 * std::max(1.0, std::abs(lo));
  if (single && axis.integer) {  // one epoch: that epoch alone, in the middle
    t.lo = lo - 0.5, t.hi = hi + 0.5, t.step = 1, t.values = {lo}, t.labels = {std::to_string(std::lround(lo))};
    return t;
  }
  if (single) {
    const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d, hi += d;
  }
  // The smallest 1, 2 or 5 × 10^k step that gives at most max_ticks ticks.
  const double raw = (hi - lo) / double(max_ticks - 1), power = std::pow(10.0, std::floor(std::log10(raw)));
  int k = int(std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw * (1 - 1e-9)) {
      t.step = m * power;
      if (m == 10.0) ++k;
      break;
    }
  if (axis.integer && t.step < 1) t.step = 1, k = 0;
  t.lo = std::floor(lo / t.step + 1e-9) * t.step, t.hi = std::ceil(hi / t.step - 1e-9) * t.step;
  if (axis.bounds) t.lo = std::max(t.lo, axis.bounds->first), t.hi = std::min(t.hi, axis.bounds->second);
  const int decimals = std::max(0, -k);
  for (long long i = std::llround(std::ceil(t.lo / t.step - 1e-9)); double(i) * t.step <= t.hi * (1 + 1e-12) + 1e-12; ++i) {
    const double v = double(i) * t.step;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    t.values.push_back(v);
    t.labels.push_back(buf);
  }
  return t;
}

Layout render(const Figure& figure, const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  LPT_CHECK(ext == ".svg" || ext == ".png", "plot: '", path, "': unknown image type '", ext,
            "', expected a name ending in .svg or .png");
  Surface measure(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1), cairo_surface_destroy);
  Context mcr(cairo_create(measure.get()), cairo_destroy);
  const Layout l = layout(mcr.get(), figure);

  Surface surface(ext == ".svg" ? cairo_svg_surface_create(path.c_str(), l.width, l.height)
                                : cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(l.width), int(l.height)),
                  cairo_surface_destroy);
  LPT_CHECK(cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS, "plot: cannot write '", path,
            "': ", cairo_status_to_string(cairo_surface_status(surface.get())));
  {
    Context cr(cairo_create(surface.get()), cairo_destroy);
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    size_t i = 0;
    for (const std::vector<Panel>& row : figure.rows)
      for (const Panel& p : row) draw_panel(cr.get(), p, l.panels[i++]);
    draw_legend(cr.get(), figure.legend, l.legend);
  }
  cairo_status_t status =
      ext == ".png" ? cairo_surface_write_to_png(surface.get(), path.c_str()) : CAIRO_STATUS_SUCCESS;
  cairo_surface_finish(surface.get());
  if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(surface.get());
  LPT_CHECK(status == CAIRO_STATUS_SUCCESS, "plot: writing '", path, "' failed: ", cairo_status_to_string(status));
  return l;
}

}  // namespace lpt::plot
