#include "rm/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace rleif::rm {
namespace {

// Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
const char* const kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr size_t kColours = sizeof(kPalette) / sizeof(kPalette[0]);
const char* const kDashes[] = {"", "6 3", "2 3", "8 3 2 3"};  // after ten series, patterns repeat in dashes

std::string num(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A compact tick label: up to 4 significant digits, no trailing zeros.
std::string tick_label(double v, bool percent) {
  char buf[64];
  if (percent) std::snprintf(buf, sizeof buf, "%.4g%%", v * 100);
  else std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Ticks at 1, 2 or 5 times a power of ten, at most about `target` of them across [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 8) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string line_chart_svg(const std::vector<ChartSeries>& series, const ChartOptions& opts) {
  const double W = opts.width, H = opts.height;
  const double left = 64, right = 210, top = 36, bottom = 52;  // margins; the legend sits in `right`
  const double pw = std::max(W - left - right, 50.0), ph = std::max(H - top - bottom, 50.0);
  auto tx = [&](double x) { return opts.log2_x ? std::log2(x) : x; };
  auto usable = [&](const ChartSeries& s, size_t i) {
    return i < s.y.size() && std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!opts.log2_x || s.x[i] > 0);
  };
  // Data ranges (bands included), padded so lines do not sit on the frame.
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s, i)) continue;
      const double e = i < s.err.size() && std::isfinite(s.err[i]) ? s.err[i] : 0.0;
      x0 = std::min(x0, tx(s.x[i])), x1 = std::max(x1, tx(s.x[i]));
      y0 = std::min(y0, s.y[i] - e), y1 = std::max(y1, s.y[i] + e);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing to draw: an empty frame
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.05, y1 += 0.05;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return left + (tx(x) - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + (y1 - y) / (y1 - y0) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << opts.width << "\" height=\"" << opts.height
    << "\" viewBox=\"0 0 " << opts.width << " " << opts.height << "\" role=\"img\" font-family=\"sans-serif\">\n";
  o << "<title>" << html_escape(opts.title) << "</title>\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << opts.width << "\" height=\"" << opts.height << "\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << num(left + pw / 2) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
    << html_escape(opts.title) << "</text>\n";
  // Grid and tick labels.
  o << "<g font-size=\"11\" fill=\"#333333\">\n";
  for (double v : nice_ticks(y0, y1)) {
    const double y = py(v);
    o << "<line x1=\"" << num(left) << "\" y1=\"" << num(y) << "\" x2=\"" << num(left + pw) << "\" y2=\"" << num(y)
      << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << num(left - 6) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\">"
      << tick_label(v, opts.y_percent) << "</text>\n";
  }
  std::vector<double> xt;
  if (opts.log2_x) {
    for (double e = std::ceil(x0 - 1e-9); e <= x1 + 1e-9; e += 1) xt.push_back(std::pow(2.0, e));
  } else {
    xt = nice_ticks(x0, x1);
  }
  for (double v : xt) {
    const double x = px(v);
    o << "<line x1=\"" << num(x) << "\" y1=\"" << num(top) << "\" x2=\"" << num(x) << "\" y2=\"" << num(top + ph)
      << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << num(x) << "\" y=\"" << num(top + ph + 16) << "\" text-anchor=\"middle\">"
      << tick_label(v, false) << "</text>\n";
  }
  o << "</g>\n";
  // Frame and axis labels.
  o << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
    << "\" fill=\"none\" stroke=\"#555555\"/>\n";
  o << "<text x=\"" << num(left + pw / 2) << "\" y=\"" << num(H - 12) << "\" text-anchor=\"middle\" font-size=\"13\">"
    << html_escape(opts.x_label) << "</text>\n";
  o << "<text x=\"16\" y=\"" << num(top + ph / 2) << "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 16 "
    << num(top + ph / 2) << ")\">" << html_escape(opts.y_label) << "</text>\n";
  // Bands, then lines and points on top.
  for (size_t s = 0; s < series.size(); ++s) {
    const auto& sr = series[s];
    std::vector<size_t> pts;
    for (size_t i = 0; i < sr.x.size(); ++i)
      if (usable(sr, i)) pts.push_back(i);
    if (pts.empty()) continue;
    const char* colour = kPalette[s % kColours];
    bool band = sr.err.size() == sr.y.size() && pts.size() > 1;
    for (size_t i : pts) band = band && std::isfinite(sr.err[i]);
    if (band) {
      std::ostringstream d;
      for (size_t j = 0; j < pts.size(); ++j)
        d << (j ? " L" : "M") << num(px(sr.x[pts[j]])) << " " << num(py(sr.y[pts[j]] + sr.err[pts[j]]));
      for (size_t j = pts.size(); j-- > 0;)
        d << " L" << num(px(sr.x[pts[j]])) << " " << num(py(sr.y[pts[j]] - sr.err[pts[j]]));
      o << "<path d=\"" << d.str() << " Z\" fill=\"" << colour << "\" fill-opacity=\"0.15\" stroke=\"none\"/>\n";
    }
    o << "<g stroke=\"" << colour << "\" fill=\"" << colour << "\">\n<title>" << html_escape(sr.name) << "</title>\n";
    o << "<polyline fill=\"none\" stroke-width=\"2\"";
    if (*kDashes[(s / kColours) % 4]) o << " stroke-dasharray=\"" << kDashes[(s / kColours) % 4] << "\"";
    o << " points=\"";
    for (size_t j = 0; j < pts.size(); ++j) o << (j ? " " : "") << num(px(sr.x[pts[j]])) << "," << num(py(sr.y[pts[j]]));
    o << "\"/>\n";
    // Point markers only on short series (best-of-n's few k); a long training curve is a line.
    if (pts.size() <= 64)
      for (size_t i : pts) o << "<circle cx=\"" << num(px(sr.x[i])) << "\" cy=\"" << num(py(sr.y[i])) << "\" r=\"3\"/>\n";
    o << "</g>\n";
  }
  // Legend.
  o << "<g font-size=\"12\">\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const double y = top + 8 + 18.0 * static_cast<double>(s);
    const double x = left + pw + 14;
    o << "<line x1=\"" << num(x) << "\" y1=\"" << num(y) << "\" x2=\"" << num(x + 22) << "\" y2=\"" << num(y)
      << "\" stroke=\"" << kPalette[s % kColours] << "\" stroke-width=\"3\"";
    if (*kDashes[(s / kColours) % 4]) o << " stroke-dasharray=\"" << kDashes[(s / kColours) % 4] << "\"";
    o << "/>\n<text x=\"" << num(x + 28) << "\" y=\"" << num(y + 4) << "\">" << html_escape(series[s].name)
      << "</text>\n";
  }
  o << "</g>\n</svg>\n";
  return o.str();
}

std::string html_page(const std::string& title, const std::string& body) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>" << html_escape(title)
    << "</title>\n<style>\n"
       "body { font-family: sans-serif; margin: 2em; color: #222222; }\n"
       "table { border-collapse: collapse; margin: 1em 0; }\n"
       "th, td { border: 1px solid #cccccc; padding: 3px 8px; text-align: right; }\n"
       "th:first-child, td:first-child { text-align: left; }\n"
       "figure { margin: 1em 0; }\n"
       "</style>\n</head>\n<body>\n"
    << body << "</body>\n</html>\n";
  return o.str();
}

std::string bestofn_report_html(const BestOfNResult& r, const std::string& title) {
  auto series_of = [&](const BonMethod& m) {
    ChartSeries s{m.name, {}, m.mean, m.stddev};
    for (int64_t k : r.k) s.x.push_back(static_cast<double>(k));
    return s;
  };
  ChartOptions co;
  co.log2_x = true;
  co.y_percent = true;
  co.x_label = "samples per problem (k, log2 scale)";
  co.y_label = "accuracy";
  std::ostringstream b;
  b << "<h1>" << html_escape(title) << "</h1>\n";
  b << "<p>" << r.problems << " problems, n = " << r.n << " samples each; every k-sample estimate averages "
    << r.subsamples << " random subsets of size k drawn without replacement (seed " << r.seed
    << "). pass@k is the unbiased estimator of Chen et al. (2021). Bands and &#177; values: "
    << html_escape(BestOfNResult::spread) << ".</p>\n";

  std::vector<ChartSeries> all;
  std::vector<std::string> labels;  // scorer labels, in method order
  for (const auto& m : r.methods) {
    all.push_back(series_of(m));
    if (m.name.rfind("best_of/", 0) == 0) labels.push_back(m.name.substr(8));
  }
  co.title = "Accuracy vs samples: all methods";
  b << "<figure>\n" << line_chart_svg(all, co) << "</figure>\n";
  if (labels.size() > 1) {
    for (const auto& l : labels) {
      std::vector<ChartSeries> some;
      for (const char* name : {"pass@k", "majority"})
        if (const BonMethod* m = r.find(name)) some.push_back(series_of(*m));
      for (const std::string& name : {"best_of/" + l, "weighted/" + l})
        if (const BonMethod* m = r.find(name)) some.push_back(series_of(*m));
      co.title = "Accuracy vs samples: " + l;
      b << "<figure>\n" << line_chart_svg(some, co) << "</figure>\n";
    }
  }

  b << "<table>\n<tr><th>method</th>";
  for (int64_t k : r.k) b << "<th>k=" << k << "</th>";
  b << "</tr>\n";
  for (const auto& m : r.methods) {
    b << "<tr><td>" << html_escape(m.name) << "</td>";
    for (size_t i = 0; i < m.mean.size(); ++i)
      b << "<td>" << num(100 * m.mean[i], 1) << " &#177; " << num(100 * m.stddev[i], 1) << "</td>";
    b << "</tr>\n";
  }
  b << "</table>\n<p>Accuracy in percent (mean &#177; std).";
  if (!r.methods.empty() && !r.methods[0].sem.empty()) {  // bestofn.json files before 2026-12-07 have none
    b << " Standard error over the " << r.problems << " problems (" << html_escape(BestOfNResult::sem_is)
      << ") at k = " << r.k.back() << ": ";
    for (size_t i = 0; i < r.methods.size(); ++i)
      b << (i ? ", " : "") << html_escape(r.methods[i].name) << " "
        << (r.methods[i].sem.empty() ? std::string("-") : num(100 * r.methods[i].sem.back(), 1));
    b << ".";
  }
  b << "</p>\n";
  if (!r.paired.empty()) {
    b << "<h2>Paired differences</h2>\n<p>A minus B on the same samples, problem by problem, in points: the "
         "mean difference &#177; its standard error over problems, and the problems where A does better / worse "
         "(an estimate two standard errors from 0 is unlikely to be luck of the problem set).</p>\n"
         "<table>\n<tr><th>A - B</th>";
    for (int64_t k : r.k) b << "<th>k=" << k << "</th>";
    b << "</tr>\n";
    for (const auto& d : r.paired) {
      b << "<tr><td>" << html_escape(d.a + " - " + d.b) << "</td>";
      for (size_t i = 0; i < d.diff.size(); ++i)
        b << "<td>" << (d.diff[i] >= 0 ? "+" : "") << num(100 * d.diff[i], 1) << " &#177; " << num(100 * d.se[i], 1)
          << " (" << d.wins[i] << "/" << d.losses[i] << ")</td>";
      b << "</tr>\n";
    }
    b << "</table>\n";
  }
  if (!r.discrimination.empty()) {
    b << "<h2>Within-problem discrimination</h2>\n<p>For every pair of a right and a wrong sample of the same "
         "problem (" << r.mixed_problems << " problems have both), the share the scorer ranks the right one "
         "higher (ties 1/2). 0.5 is chance: best-of-k beats voting only when this is well above it.</p>\n"
         "<table>\n<tr><th>scorer</th><th>within-problem AUC</th><th>pairs</th></tr>\n";
    for (const auto& d : r.discrimination)
      b << "<tr><td>" << html_escape(d.label) << "</td><td>"
        << (std::isfinite(d.within_problem_auc) ? num(d.within_problem_auc, 3) : std::string("-")) << "</td><td>"
        << d.pairs << "</td></tr>\n";
    b << "</table>\n";
  }
  return html_page(title, b.str());
}

}  // namespace rleif::rm
