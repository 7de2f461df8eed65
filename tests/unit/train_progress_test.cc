// core/progress.h: plain periodic lines when not a terminal (readable CI logs), an in-place bar on a
// terminal, and an ETA from the rate since the process started (a resumed run counts from `start`).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "core/progress.h"

namespace rleif {
namespace {

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

TEST(Progress, PlainLinesAreThrottledAndEndWithTheLastUnit) {
  std::FILE* f = std::tmpfile();
  ProgressOptions o;
  o.total = 100;
  o.tty = 0;
  o.plain_every_s = 3600;  // only the first and the last update print
  o.out = f;
  {
    Progress p(o);
    for (int i = 1; i <= 100; ++i) p.update(i, {{"loss", "1.5"}});
    p.finish();
  }
  std::string s = read_all(f);
  std::fclose(f);
  EXPECT_EQ(s.find('\r'), std::string::npos) << "no terminal control characters in plain mode";
  EXPECT_EQ(s.find("\033"), std::string::npos);
  size_t lines = 0;
  for (char c : s) lines += c == '\n';
  EXPECT_EQ(lines, 2u) << s;
  EXPECT_NE(s.find("step 1/100"), std::string::npos) << s;
  EXPECT_NE(s.find("step 100/100 100%  loss 1.5"), std::string::npos) << s;
}

TEST(Progress, TerminalBarRedrawsInPlace) {
  std::FILE* f = std::tmpfile();
  ProgressOptions o;
  o.total = 4;
  o.tty = 1;
  o.redraw_s = 0;
  o.out = f;
  {
    Progress p(o);
    p.update(2, {{"tok/s", "1.2k"}});
    p.note("eval @ step 2");
    p.update(4);
    p.finish();
  }
  std::string s = read_all(f);
  std::fclose(f);
  EXPECT_NE(s.find("\r\033[2Kstep 2/4 50% [############............]  tok/s 1.2k"), std::string::npos) << s;
  EXPECT_NE(s.find("eval @ step 2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("step 4/4 100% [########################]"), std::string::npos) << s;
  EXPECT_EQ(s.back(), '\n');
}

TEST(Progress, EtaFollowsTheRateOfThisSession) {
  ProgressOptions o;
  o.total = 110;
  o.start = 100;  // resumed: 100 units were done before this process
  o.tty = 0;
  o.plain_every_s = 3600;
  o.out = std::tmpfile();
  Progress p(o);
  EXPECT_LT(p.eta_seconds(), 0) << "unknown before any progress";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a session long next to the reads below
  p.update(105);
  // 5 units done this session, 5 remain: the ETA is the elapsed time (read on both sides of it),
  // not 21x shorter as a rate over all 105 units would make it.
  const double before = p.elapsed(), eta = p.eta_seconds(), after = p.elapsed();
  EXPECT_GE(eta, before * (1 - 1e-9));  // (t / 5) * 5 may round by an ulp
  EXPECT_LE(eta, after * (1 + 1e-9));
  EXPECT_NE(p.status_line().find("ETA"), std::string::npos);
  std::fclose(o.out);
}

TEST(Progress, NoOutputPrintsNothingAndStillCounts) {
  // A data-parallel job's ranks other than 0 (train/trainer.cc, ppo/trainer.cc) pass out = nullptr.
  for (int tty : {0, 1, -1}) {
    ProgressOptions o;
    o.total = 10;
    o.tty = tty;
    o.out = nullptr;
    Progress p(o);
    p.update(3, {{"loss", "1.0"}});
    p.note("a message");
    p.update(10);
    p.finish();
    EXPECT_EQ(p.status_line().rfind("step 10/10 100%", 0), 0u) << p.status_line();
  }
}

TEST(HumanCount, CompactUnits) {
  EXPECT_EQ(human_count(950), "950");
  EXPECT_EQ(human_count(12345), "12.3k");
  EXPECT_EQ(human_count(4.56e6), "4.56M");
}

}  // namespace
}  // namespace rleif
