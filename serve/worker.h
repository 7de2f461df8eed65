// The engine thread of the server: HTTP threads hand it jobs (one per API request, one engine request
// per prompt); it submits them, steps the engine while anything runs, and delivers tokens and
// completions back to each job under the job's own lock. The only thread that touches the engine.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "rollout/engine.h"

namespace rleif::serve {

struct Job {
  struct Event {
    int64_t index = 0;  // choice index: prompt * n + sample
    rollout::TokenEvent ev;
    std::vector<rollout::TokenLogprob> top;  // ev.top copied (the engine's storage moves on)
  };
  std::vector<rollout::Request> requests;  // one per prompt
  bool stream = false;                     // keep per-token events
  int64_t samples() const;                 // engine rows it needs: the sum of n over its prompts

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;
  std::vector<rollout::Completion> results;
  size_t remaining = 0;
  std::string error;  // set when the engine failed; the job's rows are released by then
  bool finished() const { return remaining == 0 || !error.empty(); }

  std::vector<uint64_t> handles;  // engine handles (worker thread only)
};

class Worker {
 public:
  // capacity: samples (engine rows, prompt x n) allowed in flight, running + waiting, before
  // submit() refuses.
  Worker(rollout::Engine& engine, int64_t capacity);
  ~Worker();
  // False when the queue is full (the caller answers 503): job->samples() more would pass capacity.
  bool submit(const std::shared_ptr<Job>& job);
  // Stops a job's requests (client gone); its completions still arrive, marked cancelled.
  void cancel(const std::shared_ptr<Job>& job);
  // Finishes everything submitted, then ends the thread.
  void stop();
  int64_t in_flight() const { return in_flight_.load(); }  // samples submitted and not finished
  int64_t capacity() const { return capacity_; }

 private:
  void loop();
  void start(const std::shared_ptr<Job>& job);
  // Cancels a job's engine requests, releases the rows of those that did not finish and fails it
  // with `why`; later completions of its requests are ignored. Never throws (the engine thread
  // must not die: HTTP threads wait on its jobs).
  void abandon(const std::shared_ptr<Job>& job, const std::string& why) noexcept;
  void fail_all(const std::string& why) noexcept;

  rollout::Engine& engine_;
  const int64_t capacity_;
  std::atomic<int64_t> in_flight_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> inbox_;
  std::vector<std::shared_ptr<Job>> cancels_;
  std::set<std::shared_ptr<Job>> active_;  // worker thread only
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rleif::serve
