#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/strings.h"

namespace rleif {

std::string human_count(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (a >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (a >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

Progress::Progress(ProgressOptions opts) : opts_(std::move(opts)) {
  tty_ = opts_.out && (opts_.tty >= 0 ? opts_.tty == 1 : ::isatty(::fileno(opts_.out)) == 1);
  done_ = opts_.start;
  t0_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (drawn_ && !finished_ && tty_) std::fputc('\n', opts_.out), std::fflush(opts_.out);
}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

double Progress::eta_seconds() const {
  const int64_t did = done_ - opts_.start;
  if (opts_.total <= 0 || did <= 0) return -1;
  return elapsed() / static_cast<double>(did) * static_cast<double>(std::max<int64_t>(0, opts_.total - done_));
}

std::string Progress::head() const {
  std::string s = opts_.label + " " + std::to_string(done_);
  if (opts_.total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * static_cast<double>(done_) / static_cast<double>(opts_.total));
    s += "/" + std::to_string(opts_.total) + " " + pct;
  }
  return s;
}

std::string Progress::tail() const {
  std::string s;
  for (auto& [k, v] : fields_) s += "  " + k + " " + v;
  s += "  elapsed " + human_seconds(elapsed());
  const double eta = eta_seconds();
  if (eta >= 0) s += "  ETA " + human_seconds(eta);
  return s;
}

std::string Progress::status_line() const { return head() + tail(); }

void Progress::update(int64_t done, const Fields& fields) {
  done_ = done;
  fields_ = fields;
  const bool last = opts_.total > 0 && done_ >= opts_.total;
  const double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_draw_).count();
  const double every = tty_ ? opts_.redraw_s : opts_.plain_every_s;
  if (last || !drawn_ || since >= every) draw(false);
}

void Progress::note(const std::string& line) {
  if (!opts_.out) return;
  if (tty_ && drawn_) std::fputs("\r\033[2K", opts_.out);
  std::fputs(line.c_str(), opts_.out);
  std::fputc('\n', opts_.out);
  if (tty_ && drawn_) draw(false);
  std::fflush(opts_.out);
}

void Progress::draw(bool final) {
  last_draw_ = std::chrono::steady_clock::now();
  drawn_ = true;
  drawn_done_ = done_;
  if (!opts_.out) return;
  if (!tty_) {
    std::fprintf(opts_.out, "%s\n", status_line().c_str());
    std::fflush(opts_.out);
    return;
  }
  std::string bar;
  if (opts_.total > 0) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::min(1.0, static_cast<double>(done_) / static_cast<double>(opts_.total)));
    bar = " [" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.') + "]";
  }
  const std::string s = head() + bar + tail();
  std::fprintf(opts_.out, "\r\033[2K%s%s", s.c_str(), final ? "\n" : "");
  std::fflush(opts_.out);
}

void Progress::finish() {
  if (finished_) return;
  // A plain line for this state is already out; a terminal bar still needs its newline.
  if (tty_ || drawn_done_ != done_) draw(true);
  finished_ = true;
}

}  // namespace rleif
