// OpenAITeacher: a durable, concurrent client for any OpenAI-compatible chat-completions server.
//
// One I/O thread drives libcurl's multi interface: up to max_in_flight requests at once over
// reused keep-alive connections, a per-request timeout, client-side requests/min and tokens/min
// limits, and retries with exponential backoff and jitter on connection errors, timeouts, 429,
// 408 and 5xx (a Retry-After header, in seconds or as an HTTP date, is honoured) and on a 200 whose
// body is not a chat completion. Other 4xx answers fail at once with the server's message.
//
// The API key is read once from the environment variable named by api_key_env; it goes only into
// the Authorization header, never into logs, errors, stats or the response cache.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "evol/teacher.h"

namespace rleif::evol {

struct OpenAITeacherOptions {
  std::string base_url = "https://api.openai.com/v1";
  std::string model = "gpt-4o-mini";
  std::string api_key_env = "OPENAI_API_KEY";
  int max_in_flight = 32;
  double timeout_s = 120;
  double connect_timeout_s = 10;
  int max_retries = 8;
  double backoff_base_s = 1.0;
  double backoff_max_s = 60;
  double rpm_limit = 0;
  double tpm_limit = 0;
  bool send_seed = true;

  template <class V>
  void visit(V& v) {
    v.field("base_url", base_url, "OpenAI-compatible API root; /chat/completions is appended");
    v.field("model", model, "model name sent with every request (part of the cache key)");
    v.field("api_key_env", api_key_env,
            "name of the environment variable holding the API key; empty = send no Authorization header");
    v.field("max_in_flight", max_in_flight, "requests in flight at once");
    v.field("timeout_s", timeout_s, "per-request timeout in seconds (a timed-out request is retried)");
    v.field("connect_timeout_s", connect_timeout_s, "TCP/TLS connect timeout in seconds");
    v.field("max_retries", max_retries, "retries per request before the run stops with an error");
    v.field("backoff_base_s", backoff_base_s, "first retry delay; doubles per attempt, with jitter");
    v.field("backoff_max_s", backoff_max_s, "cap on one retry delay (a longer Retry-After still wins)");
    v.field("rpm_limit", rpm_limit, "client-side requests per minute; 0 = no limit");
    v.field("tpm_limit", tpm_limit,
            "client-side tokens per minute (prompt estimate + max_tokens, as OpenAI counts); 0 = no limit");
    v.field("send_seed", send_seed, "send each sample's index as the request's `seed` (reproducible samples)");
  }
  void validate() const;
};

class OpenAITeacher : public Teacher {
 public:
  // Reads the API key; throws rleif::Error naming the variable when it is unset or empty.
  explicit OpenAITeacher(OpenAITeacherOptions opts);
  // Stops the I/O thread; requests still pending fail with "teacher shut down".
  ~OpenAITeacher() override;
  OpenAITeacher(const OpenAITeacher&) = delete;
  OpenAITeacher& operator=(const OpenAITeacher&) = delete;

  void complete_async(const Messages& messages, const CompletionParams& params, CompletionCallback done) override;
  std::string model_id() const override { return opts_.model; }
  TeacherStats stats() const override;
  // The full chat-completions URL requests go to.
  const std::string& endpoint() const { return endpoint_; }

  // What the I/O thread decided: one entry per attempt sent and per retry scheduled, in order,
  // timed on the clock the decisions were made with. Tests check the rate limits and Retry-After
  // against it rather than against their own wall-clock measurements.
  struct ScheduleEntry {
    enum Kind { sent, retry } kind = sent;
    uint64_t request = 0;       // the request, numbered in complete_async order from 0
    double at_s = 0;            // seconds since the teacher was created
    double tokens = 0;          // sent: what the tokens/min limiter counted for it
    RetryReason reason = RetryReason::connection;  // retry: why
    double delay_s = 0;         // retry: the wait chosen before the next attempt
    double retry_after_s = -1;  // retry: the server's Retry-After in seconds; -1 = none sent
  };
  // Starts recording the schedule (off by default: a long run would keep every entry).
  void record_schedule();
  std::vector<ScheduleEntry> schedule() const;

 private:
  struct Impl;
  OpenAITeacherOptions opts_;
  std::string endpoint_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rleif::evol
