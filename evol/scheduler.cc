#include "evol/scheduler.h"

#include <chrono>

#include "core/error.h"

namespace rleif::evol {

void Unit::call(const Messages& messages, const CompletionParams& params, std::function<void(const Completion&)> then) const {
  Scheduler* s = s_;
  int64_t idx = index_;
  if (s->halting()) return s->abandon(idx);
  s->teacher_.complete_async(messages, params, [s, idx, then = std::move(then)](CompletionResult r) {
    // Runs on the teacher's thread: hand the continuation to the scheduler's thread.
    s->post(idx, [s, idx, then, r = std::move(r)]() {
      if (!s->live_.count(idx)) return;
      if (!r.ok()) return s->fail(idx, r.error);
      if (s->halting()) return s->abandon(idx);
      then(r.completion);
    });
  });
}

void Unit::finish(UnitResult result) const {
  if (s_->live_.erase(index_)) s_->finished_.emplace(index_, std::move(result));
}

Scheduler::Scheduler(Teacher& teacher, int max_active, const std::atomic<bool>* stop)
    : teacher_(teacher), max_active_(max_active), stop_(stop) {}

bool Scheduler::halting() const { return !error_.empty() || (stop_ && stop_->load()); }

void Scheduler::post(int64_t index, std::function<void()> event) {
  // Notify under the lock: once the event is visible, run() may take it, finish, return and destroy
  // this Scheduler (its condition variable included) while a notify outside the lock was still to
  // come (TSan: pthread_cond_signal racing ~Scheduler).
  std::lock_guard<std::mutex> l(mu_);
  events_.emplace_back(index, std::move(event));
  cv_.notify_one();
}

void Scheduler::fail(int64_t index, const std::string& error) {
  if (error_.empty()) error_ = error;
  abandon(index);
}

void Scheduler::abandon(int64_t index) { live_.erase(index); }

int64_t Scheduler::run(int64_t from, int64_t to, const std::function<void(int64_t, Unit)>& start,
                       const std::function<void(int64_t, UnitResult&)>& write, const std::function<void()>& checkpoint,
                       const std::function<void()>& tick, double checkpoint_s) {
  using Clock = std::chrono::steady_clock;
  // Units may run ahead of the first unfinished one by this much; bounds the reorder buffer.
  const int64_t window = std::max<int64_t>(256, 8 * static_cast<int64_t>(max_active_));
  int64_t next = from, cursor = from;
  error_.clear();
  live_.clear();
  finished_.clear();
  auto last_checkpoint = Clock::now();
  while (true) {
    while (!halting() && static_cast<int64_t>(live_.size()) < max_active_ && next < to && next - cursor < window) {
      int64_t i = next++;
      live_.insert(i);
      try {
        start(i, Unit(this, i));
      } catch (const std::exception& e) {
        fail(i, e.what());
      }
    }
    if (live_.empty() && (next >= to || halting())) {
      // Events can still be queued (synchronous teachers post before run() looks): drain them.
      std::unique_lock<std::mutex> l(mu_);
      if (events_.empty()) break;
    }
    std::deque<std::pair<int64_t, std::function<void()>>> batch;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return !events_.empty(); });
      batch.swap(events_);
    }
    for (auto& [idx, ev] : batch) {
      try {
        ev();
      } catch (const std::exception& e) {
        fail(idx, e.what());  // the unit's own code failed (bad data or a bug): stop like a failed request
      }
    }
    for (auto it = finished_.find(cursor); it != finished_.end(); it = finished_.find(cursor)) {
      write(cursor, it->second);
      finished_.erase(it);
      ++cursor;
    }
    if (std::chrono::duration<double>(Clock::now() - last_checkpoint).count() >= checkpoint_s) {
      checkpoint();
      last_checkpoint = Clock::now();
    }
    tick();
  }
  checkpoint();
  if (!error_.empty()) throw Error(error_);
  return cursor;
}

}  // namespace rleif::evol
