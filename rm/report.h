// Self-contained HTML reports with inline SVG charts (no scripts, no external files), written as
// well-formed XML so any XML parser reads them. line_chart_svg is generic: best-of-n curves here,
// PPO / SFT training curves elsewhere.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "rm/bestofn.h"

namespace rleif::rm {

// One named line: points (x[i], y[i]); err[i], when given, is the half-width of a shaded band
// around y[i] (a standard deviation, say).
struct ChartSeries {
  std::string name;
  std::vector<double> x, y;  // [points]
  std::vector<double> err;   // [points] or empty
};

struct ChartOptions {
  std::string title;
  std::string x_label, y_label;
  bool log2_x = false;     // x on a log2 axis, ticks at powers of two (points with x <= 0 are dropped)
  bool y_percent = false;  // y tick labels as percentages of 1
  int width = 760;         // pixels, legend included
  int height = 420;
};

// An <svg> element (inline-able in HTML) with axes, grid, tick labels, axis labels, title, one
// polyline per series (with point markers up to 64 points), shaded bands for err, and a legend on the right.
std::string line_chart_svg(const std::vector<ChartSeries>& series, const ChartOptions& opts);

// Escapes & < > " ' for text and attribute values.
std::string html_escape(std::string_view s);

// A whole HTML document around `body` (title, charset, a small inline style sheet).
std::string html_page(const std::string& title, const std::string& body);

// The best-of-n report: a summary, a chart of accuracy vs k (log2 axis) with every method and,
// when there are several scorer labels, one chart per label (pass@k, majority, best_of, weighted),
// bands of +-1 std, then the table of numbers.
std::string bestofn_report_html(const BestOfNResult& r, const std::string& title = "Best-of-n evaluation");

}  // namespace rleif::rm
