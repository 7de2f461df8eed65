#include "serve/worker.h"

#include "core/log.h"

namespace rleif::serve {

Worker::Worker(rollout::Engine& engine, int64_t capacity)
    : engine_(engine), capacity_(capacity), thread_([this] { loop(); }) {}

Worker::~Worker() { stop(); }

int64_t Job::samples() const {
  int64_t n = 0;
  for (const auto& r : requests) n += r.params.n;
  return n;
}

bool Worker::submit(const std::shared_ptr<Job>& job) {
  const int64_t n = job->samples();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_ || in_flight_.load() + n > capacity_) return false;
    in_flight_ += n;
    job->remaining = job->requests.size();
    job->results.resize(job->requests.size());
    inbox_.push_back(job);
  }
  cv_.notify_one();
  return true;
}

void Worker::cancel(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    cancels_.push_back(job);
  }
  cv_.notify_one();
}

void Worker::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Worker::start(const std::shared_ptr<Job>& job) {
  active_.insert(job);
  const int64_t n = job->requests.empty() ? 1 : job->requests[0].params.n;
  for (size_t i = 0; i < job->requests.size(); ++i) {
    rollout::Engine::TokenFn on_token;
    if (job->stream) {
      on_token = [job, i, n](const rollout::TokenEvent& ev) {
        Job::Event e;
        e.index = static_cast<int64_t>(i) * n + ev.sample;
        e.ev = ev;
        if (ev.top) e.top = *ev.top;
        e.ev.top = nullptr;
        {
          std::lock_guard<std::mutex> lk(job->mu);
          job->events.push_back(std::move(e));
        }
        job->cv.notify_all();
      };
    }
    const int64_t samples = job->requests[i].params.n;
    auto on_done = [this, job, i, samples](rollout::Completion&& c) {
      {
        std::lock_guard<std::mutex> lk(job->mu);
        if (!job->error.empty()) return;  // abandoned: abandon() released its rows already
        job->results[i] = std::move(c);
        in_flight_ -= samples;  // before `remaining`, so a job seen finished has released its rows
        --job->remaining;
        if (job->remaining == 0) active_.erase(job);
      }
      job->cv.notify_all();
    };
    try {
      job->handles.push_back(engine_.submit(job->requests[i], on_token, on_done));
    } catch (const std::exception& e) {
      // The HTTP thread checked the request; reaching here is a server fault, reported as such.
      active_.erase(job);
      abandon(job, e.what());
      return;
    }
  }
}

void Worker::abandon(const std::shared_ptr<Job>& job, const std::string& why) noexcept {
  // Cancelling finishes the job's requests in the engine (their on_done runs now, releasing rows);
  // whatever did not finish is released below, so the job never holds rows it no longer uses.
  for (uint64_t h : job->handles) {
    try {
      engine_.cancel(h);
    } catch (const std::exception& e) {
      log_error("serve: cancelling a failed request: ", e.what());
    }
  }
  {
    std::lock_guard<std::mutex> lk(job->mu);
    int64_t left = 0;
    for (size_t i = 0; i < job->requests.size(); ++i)
      if (job->results[i].samples.empty()) left += job->requests[i].params.n;
    in_flight_ -= left;
    job->error = why;
  }
  job->cv.notify_all();
}

void Worker::fail_all(const std::string& why) noexcept {
  const std::vector<std::shared_ptr<Job>> jobs(active_.begin(), active_.end());  // on_done edits active_
  active_.clear();
  for (const auto& job : jobs) abandon(job, why);
}

void Worker::loop() {
  while (true) {
    std::deque<std::shared_ptr<Job>> in;
    std::vector<std::shared_ptr<Job>> cancels;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !inbox_.empty() || !cancels_.empty() || engine_.busy(); });
      if (stop_ && inbox_.empty() && !engine_.busy()) return;
      in.swap(inbox_);
      cancels.swap(cancels_);
    }
    for (const auto& job : in) start(job);
    try {
      for (const auto& job : cancels)
        for (uint64_t h : job->handles) engine_.cancel(h);
      if (!engine_.busy()) continue;
      engine_.step();
    } catch (const std::exception& e) {
      log_error("serve: the engine failed: ", e.what());
      fail_all(std::string("the engine failed: ") + e.what());
    }
  }
}

}  // namespace rleif::serve
