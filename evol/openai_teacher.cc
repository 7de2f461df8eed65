#include "evol/openai_teacher.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/strings.h"

namespace rleif::evol {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxResponseBytes = 64u << 20;

// A token bucket: `rate` units per second, bursts up to `capacity` (one second's worth, so the
// limit holds over any window of a few seconds, not just per minute).
struct TokenBucket {
  double rate = 0, capacity = 0, level = 0;
  Clock::time_point last;
  void init(double per_minute) {
    rate = per_minute / 60.0;
    capacity = std::max(1.0, per_minute / 60.0);
    level = capacity;
    last = Clock::now();
  }
  // Seconds until `cost` can be taken (0 = now). A cost above capacity waits for a full bucket.
  double wait(double cost, Clock::time_point now) {
    if (rate <= 0) return 0;
    level = std::min(capacity, level + rate * std::chrono::duration<double>(now - last).count());
    last = now;
    double c = std::min(cost, capacity);
    return level >= c ? 0 : (c - level) / rate;
  }
  void take(double cost) {
    if (rate > 0) level -= std::min(cost, capacity);
  }
};

struct Request {
  uint64_t id = 0;  // order of complete_async calls (the schedule names requests by it)
  std::string body;
  CompletionCallback done;
  double est_tokens = 0;
  int attempts = 0;
  std::string response;
  double retry_after_s = -1;  // from Retry-After / retry-after-ms of the last response; -1 = none
  std::string last_error;
  char errbuf[CURL_ERROR_SIZE] = {0};
};

size_t write_cb(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Request*>(user);
  if (r->response.size() + size * n > kMaxResponseBytes) return 0;  // aborts with CURLE_WRITE_ERROR
  r->response.append(data, size * n);
  return size * n;
}

size_t header_cb(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Request*>(user);
  std::string line(data, size * n);
  std::string lower = line;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (starts_with(lower, "http/")) r->retry_after_s = -1;  // a new response starts
  auto value = [&](size_t prefix) { return trim(line.substr(prefix)); };
  if (starts_with(lower, "retry-after-ms:")) {
    char* end = nullptr;
    std::string v = value(15);
    double ms = std::strtod(v.c_str(), &end);
    if (end != v.c_str() && ms >= 0) r->retry_after_s = ms / 1000.0;
  } else if (starts_with(lower, "retry-after:") && r->retry_after_s < 0) {
    std::string v = value(12);
    char* end = nullptr;
    double s = std::strtod(v.c_str(), &end);
    if (end != v.c_str() && *end == '\0' && s >= 0) {
      r->retry_after_s = s;
    } else {
      time_t t = curl_getdate(v.c_str(), nullptr);  // an HTTP date
      if (t > 0) r->retry_after_s = std::max(0.0, std::difftime(t, std::time(nullptr)));
    }
  }
  return size * n;
}

void curl_global_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

void OpenAITeacherOptions::validate() const {
  RLEIF_CHECK(starts_with(base_url, "http://") || starts_with(base_url, "https://"), "teacher.base_url: '", base_url,
              "' is not an http(s) URL; give the API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1");
  RLEIF_CHECK(!model.empty(), "teacher.model: empty; name the model the server should run");
  RLEIF_CHECK(max_in_flight >= 1 && max_in_flight <= 4096, "teacher.max_in_flight: must be in [1, 4096], got ",
              max_in_flight);
  RLEIF_CHECK(timeout_s > 0 && connect_timeout_s > 0, "teacher.timeout_s and teacher.connect_timeout_s must be > 0");
  RLEIF_CHECK(max_retries >= 0, "teacher.max_retries: must be >= 0, got ", max_retries);
  RLEIF_CHECK(backoff_base_s >= 0 && backoff_max_s >= backoff_base_s,
              "teacher.backoff_base_s/backoff_max_s: need 0 <= base <= max, got ", backoff_base_s, " and ", backoff_max_s);
  RLEIF_CHECK(rpm_limit >= 0 && tpm_limit >= 0, "teacher.rpm_limit/tpm_limit: must be >= 0 (0 = no limit)");
}

struct OpenAITeacher::Impl {
  OpenAITeacherOptions opts;
  std::string endpoint;
  std::string api_key;
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr;
  std::thread io;

  std::mutex mu;  // guards incoming, stop
  std::deque<std::unique_ptr<Request>> incoming;
  bool stop = false;

  // I/O thread only.
  std::deque<std::unique_ptr<Request>> ready;
  std::multimap<Clock::time_point, std::unique_ptr<Request>> delayed;
  std::map<CURL*, std::unique_ptr<Request>> active;
  std::vector<CURL*> idle_handles;
  TokenBucket rpm, tpm;
  std::mt19937_64 jitter{std::random_device{}()};

  mutable std::mutex stats_mu;  // guards stats, schedule, next_id
  TeacherStats stats;
  bool recording = false;
  std::vector<OpenAITeacher::ScheduleEntry> schedule;
  uint64_t next_id = 0;
  const Clock::time_point t0 = Clock::now();

  void record(OpenAITeacher::ScheduleEntry e, Clock::time_point at) {
    std::lock_guard<std::mutex> l(stats_mu);
    if (!recording) return;
    e.at_s = std::chrono::duration<double>(at - t0).count();
    schedule.push_back(e);
  }

  std::string redact(std::string s) const {
    if (api_key.empty()) return s;
    for (size_t p; (p = s.find(api_key)) != std::string::npos;) s.replace(p, api_key.size(), "[redacted]");
    return s;
  }

  void deliver(std::unique_ptr<Request> r, CompletionResult res) {
    {
      std::lock_guard<std::mutex> l(stats_mu);
      if (res.ok()) {
        ++stats.completed;
        stats.prompt_tokens += res.completion.usage.prompt_tokens;
        stats.completion_tokens += res.completion.usage.completion_tokens;
      } else {
        ++stats.failed;
      }
    }
    r->done(std::move(res));
  }

  void fail(std::unique_ptr<Request> r, const std::string& why) {
    CompletionResult res;
    res.error = redact(why);
    deliver(std::move(r), std::move(res));
  }

  // `now` is the time the limiters decided at.
  void start(std::unique_ptr<Request> r, Clock::time_point now) {
    CURL* e = nullptr;
    if (!idle_handles.empty()) {
      e = idle_handles.back();
      idle_handles.pop_back();
      curl_easy_reset(e);
    } else {
      e = curl_easy_init();
    }
    Request* q = r.get();
    q->response.clear();
    q->retry_after_s = -1;
    q->errbuf[0] = 0;
    ++q->attempts;
    curl_easy_setopt(e, CURLOPT_URL, endpoint.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(q->body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PRIVATE, q);
    {
      std::lock_guard<std::mutex> l(stats_mu);
      ++stats.requests;
    }
    OpenAITeacher::ScheduleEntry sent;
    sent.request = q->id;
    sent.tokens = q->est_tokens;
    record(sent, now);
    curl_multi_add_handle(multi, e);
    active.emplace(e, std::move(r));
  }

  double backoff_s(int attempt) {
    double d = std::min(opts.backoff_max_s, opts.backoff_base_s * std::pow(2.0, attempt - 1));
    // "Equal jitter": half fixed, half random, so retries of a burst spread out but never bunch at 0.
    return d / 2 + std::uniform_real_distribution<double>(0, d / 2)(jitter);
  }

  void retry(std::unique_ptr<Request> r, RetryReason why, const std::string& what) {
    r->last_error = what;
    if (r->attempts > opts.max_retries) {
      std::string msg = str("teacher request to ", endpoint, " failed after ", r->attempts, " attempts; last error: ",
                            what, ". Check that the server is up and teacher.base_url is right, or raise ",
                            "teacher.max_retries");
      fail(std::move(r), msg);  // msg first: see finish() on argument order
      return;
    }
    {
      std::lock_guard<std::mutex> l(stats_mu);
      ++stats.retries[static_cast<int>(why)];
    }
    double delay = r->retry_after_s >= 0 ? r->retry_after_s : backoff_s(r->attempts);
    log_debug("teacher: retry ", r->attempts, " in ", delay, " s (", enum_name(why), ": ", redact(what), ")");
    const auto now = Clock::now();
    auto when = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
    OpenAITeacher::ScheduleEntry e;
    e.kind = OpenAITeacher::ScheduleEntry::retry;
    e.request = r->id;
    e.reason = why;
    e.delay_s = delay;
    e.retry_after_s = r->retry_after_s;
    record(e, now);
    delayed.emplace(when, std::move(r));
  }

  void finish(CURL* e, CURLcode code) {
    auto it = active.find(e);
    std::unique_ptr<Request> r = std::move(it->second);
    active.erase(it);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi, e);
    idle_handles.push_back(e);

    if (code != CURLE_OK) {
      std::string what = str(curl_easy_strerror(code), r->errbuf[0] ? std::string(": ") + r->errbuf : "");
      RetryReason why = code == CURLE_OPERATION_TIMEDOUT ? RetryReason::timeout
                        : code == CURLE_WRITE_ERROR      ? RetryReason::malformed
                                                         : RetryReason::connection;
      retry(std::move(r), why, what);
      return;
    }
    if (status == 429) return retry(std::move(r), RetryReason::rate_limited, "HTTP 429 (rate limited)");
    // Each message is built before the request is moved into retry()/fail(): the order in which a
    // call's arguments are evaluated is unspecified, so `f(std::move(r), r->x)` may read a null r.
    if (status == 408 || status >= 500) {
      std::string what = str("HTTP ", status, ": ", r->response.substr(0, 200));
      return retry(std::move(r), RetryReason::server_error, what);
    }
    if (status != 200) {
      std::string hint = status == 401 || status == 403
                             ? str("; check the API key in $", opts.api_key_env, " (teacher.api_key_env)")
                         : status == 404 ? "; check teacher.base_url (the API root, e.g. .../v1) and teacher.model"
                                         : "";
      std::string what = str("teacher at ", endpoint, " answered HTTP ", status, ": ", r->response.substr(0, 300), hint);
      return fail(std::move(r), what);
    }
    json j = json::parse(r->response, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      std::string what = str("body is not JSON (", r->response.size(), " bytes)");
      return retry(std::move(r), RetryReason::malformed, what);
    }
    const json* choices = j.contains("choices") ? &j["choices"] : nullptr;
    if (!choices || !choices->is_array() || choices->empty() || !(*choices)[0].is_object())
      return retry(std::move(r), RetryReason::malformed, "JSON without choices[0]");
    const json& c0 = (*choices)[0];
    CompletionResult res;
    Completion& c = res.completion;
    if (c0.contains("message") && c0["message"].is_object() && c0["message"].contains("content")) {
      const json& content = c0["message"]["content"];
      if (content.is_string()) c.text = content.get<std::string>();
      else if (!content.is_null()) return retry(std::move(r), RetryReason::malformed, "choices[0].message.content is not text");
    } else {
      return retry(std::move(r), RetryReason::malformed, "JSON without choices[0].message.content");
    }
    if (c0.contains("finish_reason") && c0["finish_reason"].is_string()) c.finish_reason = c0["finish_reason"];
    if (j.contains("usage") && j["usage"].is_object()) {
      const json& u = j["usage"];
      if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) c.usage.prompt_tokens = u["prompt_tokens"];
      if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
        c.usage.completion_tokens = u["completion_tokens"];
    }
    c.attempts = r->attempts;
    deliver(std::move(r), std::move(res));
  }

  void shut_down_all() {
    for (auto& [e, r] : active) {
      curl_multi_remove_handle(multi, e);
      curl_easy_cleanup(e);
      fail(std::move(r), "teacher shut down before the request finished");
    }
    active.clear();
    for (auto& r : ready) fail(std::move(r), "teacher shut down before the request was sent");
    ready.clear();
    for (auto& [t, r] : delayed) fail(std::move(r), "teacher shut down before the request was retried");
    delayed.clear();
  }

  void loop() {
    while (true) {
      {
        std::lock_guard<std::mutex> l(mu);
        while (!incoming.empty()) {
          ready.push_back(std::move(incoming.front()));
          incoming.pop_front();
        }
        if (stop) break;
      }
      auto now = Clock::now();
      while (!delayed.empty() && delayed.begin()->first <= now) {
        ready.push_front(std::move(delayed.begin()->second));  // retries go before new work
        delayed.erase(delayed.begin());
      }
      double limiter_wait = 0;
      while (active.size() < static_cast<size_t>(opts.max_in_flight) && !ready.empty()) {
        double w = std::max(rpm.wait(1, now), tpm.wait(ready.front()->est_tokens, now));
        if (w > 0) {
          limiter_wait = w;
          break;
        }
        rpm.take(1);
        tpm.take(ready.front()->est_tokens);
        start(std::move(ready.front()), now);
        ready.pop_front();
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &left))
        if (m->msg == CURLMSG_DONE) finish(m->easy_handle, m->data.result);

      double wait_s = 1.0;
      if (limiter_wait > 0) wait_s = std::min(wait_s, limiter_wait);
      if (!delayed.empty())
        wait_s = std::min(wait_s, std::chrono::duration<double>(delayed.begin()->first - Clock::now()).count());
      if (!ready.empty() && limiter_wait == 0 && active.size() < static_cast<size_t>(opts.max_in_flight)) wait_s = 0;
      int ms = static_cast<int>(std::ceil(std::max(0.0, wait_s) * 1000));
      if (ms > 0) curl_multi_poll(multi, nullptr, 0, ms, nullptr);
    }
    shut_down_all();
  }
};

OpenAITeacher::OpenAITeacher(OpenAITeacherOptions opts) : opts_(std::move(opts)), impl_(std::make_unique<Impl>()) {
  opts_.validate();
  std::string base = opts_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  endpoint_ = ends_with(base, "/chat/completions") ? base : base + "/chat/completions";
  if (!opts_.api_key_env.empty()) {
    const char* key = std::getenv(opts_.api_key_env.c_str());
    RLEIF_CHECK(key && *key, "teacher.api_key_env: environment variable ", opts_.api_key_env,
                " is not set or empty; export it with your API key, or set teacher.api_key_env to \"\" for a ",
                "server that needs no key");
    impl_->api_key = key;
  }
  curl_global_once();
  Impl& m = *impl_;
  m.opts = opts_;
  m.endpoint = endpoint_;
  m.headers = curl_slist_append(m.headers, "Content-Type: application/json");
  m.headers = curl_slist_append(m.headers, "Expect:");  // no 100-continue round trip on large bodies
  if (!m.api_key.empty()) m.headers = curl_slist_append(m.headers, ("Authorization: Bearer " + m.api_key).c_str());
  m.multi = curl_multi_init();
  RLEIF_CHECK(m.multi, "teacher: libcurl could not create a multi handle");
  curl_multi_setopt(m.multi, CURLMOPT_MAXCONNECTS, static_cast<long>(opts_.max_in_flight + 4));
  m.rpm.init(opts_.rpm_limit);
  m.tpm.init(opts_.tpm_limit);
  m.io = std::thread([&m] { m.loop(); });
}

OpenAITeacher::~OpenAITeacher() {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stop = true;
  }
  curl_multi_wakeup(impl_->multi);
  impl_->io.join();
  for (CURL* e : impl_->idle_handles) curl_easy_cleanup(e);
  curl_multi_cleanup(impl_->multi);
  curl_slist_free_all(impl_->headers);
}

void OpenAITeacher::complete_async(const Messages& messages, const CompletionParams& params, CompletionCallback done) {
  auto r = std::make_unique<Request>();
  r->body = chat_request_json(opts_.model, messages, params, opts_.send_seed).dump();
  size_t chars = 0;
  for (const auto& m : messages) chars += m.content.size();
  // OpenAI's limiter counts an estimate of the prompt (about 4 characters a token) plus max_tokens.
  r->est_tokens = static_cast<double>(chars) / 4.0 + params.max_tokens;
  r->done = std::move(done);
  {
    std::lock_guard<std::mutex> l(impl_->stats_mu);
    r->id = impl_->next_id++;
  }
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    if (impl_->stop) {
      CompletionResult res;
      res.error = "teacher shut down";
      r->done(std::move(res));
      return;
    }
    impl_->incoming.push_back(std::move(r));
  }
  curl_multi_wakeup(impl_->multi);
}

TeacherStats OpenAITeacher::stats() const {
  std::lock_guard<std::mutex> l(impl_->stats_mu);
  return impl_->stats;
}

void OpenAITeacher::record_schedule() {
  std::lock_guard<std::mutex> l(impl_->stats_mu);
  impl_->recording = true;
}

std::vector<OpenAITeacher::ScheduleEntry> OpenAITeacher::schedule() const {
  std::lock_guard<std::mutex> l(impl_->stats_mu);
  return impl_->schedule;
}

}  // namespace rleif::evol
