// The teacher: an LLM that evolves, answers, ranks and judges (docs/DESIGN.md, evol::Teacher).
//
// Two implementations share this interface so the same parsing pipeline runs on both:
// OpenAITeacher (evol/openai_teacher.h; any OpenAI-compatible chat-completions server over
// libcurl) and SyntheticTeacher (evol/synthetic_teacher.h; offline, for the built-in math domain).
// CachingTeacher (evol/response_cache.h) wraps either with the on-disk response cache.
#pragma once
#include <cstdint>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "core/options.h"

namespace rleif::evol {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};
using Messages = std::vector<ChatMessage>;

struct CompletionParams {
  double temperature = 1.0;
  double top_p = 1.0;
  int max_tokens = 1024;
  // Which sample of this prompt: part of the cache key, sent as the request's `seed` when the
  // client is told to, and SyntheticTeacher's source of randomness. Repeated samples of one prompt
  // (K variants of one seed) differ only here.
  int64_t sample_index = 0;
  std::vector<std::string> stop;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct Completion {
  std::string text;
  std::string finish_reason;
  Usage usage;
  bool cached = false;  // served from the response cache: cost nothing this run
  int attempts = 0;     // HTTP attempts it took (0 when cached or synthetic)
};

struct CompletionResult {
  Completion completion;
  std::string error;  // non-empty: failed for good (retries exhausted, or a permanent HTTP error)
  bool ok() const { return error.empty(); }
};
using CompletionCallback = std::function<void(CompletionResult)>;

// Why an attempt was retried.
enum class RetryReason { rate_limited, server_error, timeout, connection, malformed };
constexpr int kRetryReasons = 5;

struct TeacherStats {
  int64_t requests = 0;    // HTTP attempts sent (retries included)
  int64_t completed = 0;   // completions delivered, cached ones included
  int64_t cache_hits = 0;  // completions served from the cache
  int64_t failed = 0;      // requests that failed for good
  int64_t retries[kRetryReasons] = {0, 0, 0, 0, 0};  // by RetryReason
  int64_t prompt_tokens = 0;      // billed this run (cache hits excluded), from the `usage` field
  int64_t completion_tokens = 0;
  int64_t total_retries() const;
};

class Teacher {
 public:
  virtual ~Teacher() = default;
  // Starts one chat completion. `done` runs exactly once, on any thread (possibly before this
  // returns), when the completion is ready or has failed for good; it must be quick and not throw.
  virtual void complete_async(const Messages& messages, const CompletionParams& params, CompletionCallback done) = 0;
  // The identity of the model behind this teacher; it is part of every cache key.
  virtual std::string model_id() const = 0;
  virtual TeacherStats stats() const = 0;

  // The future-returning form of complete_async: get() returns the completion or throws rleif::Error.
  std::future<Completion> complete(const Messages& messages, const CompletionParams& params);
};

// The chat-completions request body for `model` ({"model", "messages", "temperature", ...}).
json chat_request_json(const std::string& model, const Messages& messages, const CompletionParams& params,
                       bool send_seed);

}  // namespace rleif::evol

RLEIF_ENUM_NAMES(rleif::evol::RetryReason, {rleif::evol::RetryReason::rate_limited, "rate_limited"},
                 {rleif::evol::RetryReason::server_error, "server_error"},
                 {rleif::evol::RetryReason::timeout, "timeout"},
                 {rleif::evol::RetryReason::connection, "connection"},
                 {rleif::evol::RetryReason::malformed, "malformed"});
