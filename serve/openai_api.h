// The OpenAI wire format: request parsing with field-level 400 errors, and the JSON of responses,
// stream chunks and error bodies for /v1/completions and /v1/chat/completions.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "model/tokenizer.h"
#include "rollout/engine.h"

namespace rleif::serve {

// An error answered as {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, std::string param = "", std::string type = "invalid_request_error",
           std::string code = "");
  int status;
  std::string param, type, code;
};
json error_body(const std::string& message, const std::string& type, const std::string& param = "",
                const std::string& code = "");

enum class Endpoint { completions, chat };

struct ChatMessage {
  std::string role, content;
};

// A validated request. Prompts are text (completions: each string; chat: the messages, rendered by
// the caller with the model's template) or token ids.
struct ApiRequest {
  Endpoint endpoint = Endpoint::completions;
  std::vector<std::string> prompts;
  std::vector<std::vector<int32_t>> prompt_ids;
  std::vector<ChatMessage> messages;
  rollout::SamplingParams params;
  bool max_tokens_given = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // return per-token log-probs
};

struct ApiLimits {
  std::string model_name;          // the only model this server answers for
  int64_t max_n = 64;              // samples per prompt at most
  int64_t max_prompts = 64;        // prompts per completions request at most
  int64_t default_max_tokens = 16; // completions' default (OpenAI's); chat defaults to the row's room
};

// Throws ApiError (400, or 404 for an unknown model) naming the offending field.
ApiRequest parse_request(const json& body, Endpoint endpoint, const ApiLimits& limits);

// A /v1/completions text prompt's ids, the tokenizer's special tokens added. A text that encodes to
// nothing ("prompt": "") starts from BOS alone, as transformers' generate() without input_ids does:
// config.json's bos_token_id (config_bos >= 0), else the tokenizer's BOS; ApiError 400 with neither.
std::vector<int32_t> encode_completion_prompt(const Tokenizer& tok, const std::string& text, int64_t config_bos);

// Response builders. `ids` holds the engine's completion per prompt (choice index = prompt * n + sample).
struct ResponseMeta {
  std::string id, model;
  int64_t created = 0;
};
json completion_response(const ApiRequest& r, const std::vector<rollout::Completion>& out, const ResponseMeta& m,
                         const Tokenizer& tok);
// One stream chunk for a token event of choice `index` (null finish unless finished).
json stream_chunk(const ApiRequest& r, const rollout::TokenEvent& ev, int64_t index, const ResponseMeta& m,
                  const Tokenizer& tok);
// The chat stream's opening chunk for one choice: delta {"role": "assistant", "content": ""}.
json chat_role_chunk(int64_t index, const ResponseMeta& m);
// The final usage-only chunk (stream_options.include_usage).
json usage_chunk(const ApiRequest& r, const json& usage, const ResponseMeta& m);
json usage_json(const std::vector<rollout::Completion>& out);

const char* finish_name(rollout::FinishReason f);

}  // namespace rleif::serve
