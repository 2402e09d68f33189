#pragma once
// Line plots for lpt's reports: a figure of panels (rows of equal-width panels) and one legend in a
// column of its own to the right, drawn with cairo to SVG or PNG from the same code. Used by
// `lpt report` (curves per epoch, diagnostics per layer) and meant for any x-vs-y comparison of runs
// (e.g. accuracy against bits, one series per format, fp32 as a reference line).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lpt::plot {

using Colour = uint32_t;  // 0xRRGGBB
enum class Dash { solid, dashed, dotted };
enum class Marker { none, circle, square, triangle, diamond, triangle_down, cross, plus };

// Distinct colours for series (Tableau 10), in order; colour(i) cycles through them.
Colour colour(size_t i);

// Members default to empty ({}) so that panels read as designated initializers.
struct Series {
  Colour colour = 0;
  Dash dash = Dash::solid;
  Marker marker = Marker::none;  // drawn at every point
  // Every series ends in a marker (this one, or a circle), so a one-point series is visible.
  std::vector<std::pair<double, double>> points{};
};

struct Axis {
  std::string label{};
  bool integer = false;                   // ticks only at whole numbers (epochs)
  std::vector<std::string> categories{};  // non-empty: x = index of a category, each tick named
  std::optional<std::pair<double, double>> view{};    // the range to show instead of the data's (zoom)
  std::optional<std::pair<double, double>> bounds{};  // the axis never extends past these (0..100 %)
};

struct Panel {
  std::string title{};
  Axis x{}, y{};
  std::vector<Series> series{};
  std::optional<double> reference_y{};  // a horizontal grey line, e.g. the fp32 baseline
};

struct LegendEntry {
  std::string label{};             // with no sample: a heading, or a gap when empty
  std::optional<Colour> colour{};  // the sample's colour (none: no sample)
  Dash dash = Dash::solid;
  Marker marker = Marker::none;
  bool line = true;  // draw a line sample (false: only the marker)
};

struct Figure {
  std::vector<std::vector<Panel>> rows{};
  std::vector<LegendEntry> legend{};
};

// The ticks of an axis: values and their labels (only the decimals the step needs).
struct Ticks {
  double lo = 0, hi = 1;  // the axis range
  double step = 1;
  std::vector<double> values;
  std::vector<std::string> labels;
};
// "Nice" ticks covering [lo, hi]: steps of 1, 2 or 5 × 10^k, at most about max_ticks of them, the
// range widened to whole steps (within axis.bounds); categories: one tick per category.
Ticks axis_ticks(double lo, double hi, const Axis& axis, int max_ticks);

// Where render put things, in pixels of the PNG (for tests and callers that annotate).
struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
};
struct PanelLayout {
  Rect cell;  // the panel with its title, tick labels and axis labels
  Rect data;  // the framed area data is drawn (and clipped) in
  Ticks x_ticks, y_ticks;
};
struct Layout {
  double width = 0, height = 0;
  std::vector<PanelLayout> panels;  // row by row
  Rect legend;
};

// Draws the figure to `path`, SVG or PNG by its extension (.svg, .png); anything else is an error
// naming the path. The background is white; text is drawn as outlines in the SVG.
Layout render(const Figure& figure, const std::string& path);

}  // namespace lpt::plot
