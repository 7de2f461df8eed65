// Runs numbered units of work against a teacher with many requests in flight, and hands finished
// units back in index order, whatever order their requests complete in. A unit is a small state
// machine written as continuations: it makes one teacher call at a time (Unit::call) and ends with
// Unit::finish. All unit code runs on the thread that called run(), so it needs no locks.
//
// On a stop request (SIGINT) or a request that failed for good, no new unit starts and no new call
// is made; run() returns once the calls in flight have come back. Units cut short are not written:
// the next run redoes them, and the response cache answers the calls they had finished.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "evol/teacher.h"

namespace rleif::evol {

// What a finished unit hands back: the records to write, and how it went.
struct UnitResult {
  std::vector<json> records;
  bool kept = true;
  std::string reason;  // why not kept
};

class Scheduler;

class Unit {
 public:
  // Calls the teacher; `then` runs on the scheduler's thread with the completion.
  void call(const Messages& messages, const CompletionParams& params, std::function<void(const Completion&)> then) const;
  void finish(UnitResult result) const;
  int64_t index() const { return index_; }

 private:
  friend class Scheduler;
  Unit(Scheduler* s, int64_t index) : s_(s), index_(index) {}
  Scheduler* s_;
  int64_t index_;
};

class Scheduler {
 public:
  // max_active: units in progress at once (each has at most one call in flight).
  Scheduler(Teacher& teacher, int max_active, const std::atomic<bool>* stop);

  // Runs units [from, to). start(i, unit) begins unit i; write(i, result) receives finished units
  // in index order; checkpoint() runs about every `checkpoint_s` seconds and at the end; tick()
  // runs on every loop turn (progress display). Returns the index of the first unit not written
  // (== to when all were). Throws rleif::Error when a request failed for good, after writing what
  // finished before it.
  int64_t run(int64_t from, int64_t to, const std::function<void(int64_t, Unit)>& start,
              const std::function<void(int64_t, UnitResult&)>& write, const std::function<void()>& checkpoint,
              const std::function<void()>& tick, double checkpoint_s = 0.5);

  bool halting() const;

 private:
  friend class Unit;
  void post(int64_t index, std::function<void()> event);
  void fail(int64_t index, const std::string& error);
  void abandon(int64_t index);

  Teacher& teacher_;
  int max_active_;
  const std::atomic<bool>* stop_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, std::function<void()>>> events_;  // (unit, continuation)
  // Scheduler thread only:
  std::set<int64_t> live_;  // units started and neither finished nor abandoned
  std::map<int64_t, UnitResult> finished_;
  std::string error_;
};

}  // namespace rleif::evol
