#include "serve/worker.h"

#include "core/log.h"

namespace rleif::serve {

Worker::Worker(rollout::Engine& engine, int64_t capacity)
    : engine_(engine), capacity_(capacity), thread_([this] { loop(); }) {}

Worker::~Worker() { stop(); }

bool Worker::submit(const std::shared_ptr<Job>& job) {
  const int64_t n = static_cast<int64_t>(job->requests.size());
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
    auto on_done = [this, job, i](rollout::Completion&& c) {
      {
        std::lock_guard<std::mutex> lk(job->mu);
        job->results[i] = std::move(c);
        --job->remaining;
        if (job->remaining == 0) active_.erase(job);
      }
      --in_flight_;
      job->cv.notify_all();
    };
    try {
      job->handles.push_back(engine_.submit(job->requests[i], on_token, on_done));
    } catch (const std::exception& e) {
      // The HTTP thread checked the request; reaching here is a server fault, reported as such.
      std::lock_guard<std::mutex> lk(job->mu);
      job->error = e.what();
      in_flight_ -= static_cast<int64_t>(job->requests.size() - i);
      job->cv.notify_all();
      return;
    }
  }
}

void Worker::fail_all(const std::string& why) {
  const std::vector<std::shared_ptr<Job>> jobs(active_.begin(), active_.end());  // cancel() edits active_
  active_.clear();
  for (const auto& job : jobs) {
    for (uint64_t h : job->handles) engine_.cancel(h);
    std::lock_guard<std::mutex> lk(job->mu);
    job->error = why;
    job->cv.notify_all();
  }
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
    for (const auto& job : cancels)
      for (uint64_t h : job->handles) engine_.cancel(h);
    if (!engine_.busy()) continue;
    try {
      engine_.step();
    } catch (const std::exception& e) {
      log_error("serve: the engine failed: ", e.what());
      fail_all(std::string("the engine failed: ") + e.what());
    }
  }
}

}  // namespace rleif::serve
