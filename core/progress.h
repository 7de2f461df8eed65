// Progress of a long job: a one-line bar redrawn in place on a terminal, or plain periodic lines
// when the output is not a terminal (CI logs stay readable). Shows done/total, caller fields
// (loss, tokens/s, ...) and an ETA from the rate observed since this process started.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace rleif {

struct ProgressOptions {
  std::string label = "step";     // what is counted ("step", "problem")
  int64_t total = 0;              // units in the whole job (0 = unknown: no bar, no ETA)
  int64_t start = 0;              // units already done when this process began (a resumed run)
  double redraw_s = 0.2;          // minimum seconds between bar redraws on a terminal
  double plain_every_s = 10.0;    // seconds between plain lines when not a terminal
  std::FILE* out = stdout;         // nullptr: print nothing (a data-parallel job's ranks other than 0)
  int tty = -1;                   // 1 = bar, 0 = plain lines, -1 = decide from isatty(out)
};

class Progress {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  explicit Progress(ProgressOptions opts);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Reports `done` units with display fields; draws when the redraw/plain interval has passed
  // (always for the last unit).
  void update(int64_t done, const Fields& fields = {});
  // Prints a message on its own line (the bar is redrawn below it on a terminal).
  void note(const std::string& line);
  // Draws the final state and ends the bar's line.
  void finish();

  // Seconds left at the current rate, or -1 when unknown.
  double eta_seconds() const;
  // Seconds since this Progress was created (this session; the rate and ETA are over it).
  double elapsed() const;
  // The text of the current status (what the bar or a plain line shows), without the bar glyphs.
  std::string status_line() const;

 private:
  void draw(bool final);
  std::string head() const;  // "step 12/100  12%"
  std::string tail() const;  // "  loss 2.1  ...  elapsed 3s  ETA 20s"


  ProgressOptions opts_;
  bool tty_ = false;
  bool drawn_ = false;
  bool finished_ = false;
  int64_t done_ = 0;
  int64_t drawn_done_ = -1;  // done_ at the last draw
  Fields fields_;
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

// "12.3k", "4.56M": compact counts for rates.
std::string human_count(double v);

}  // namespace rleif
