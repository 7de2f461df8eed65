// OpenAI-compatible HTTP server over rollout::Engine: GET /v1/models, POST /v1/completions and
// /v1/chat/completions (JSON or SSE streaming), GET /health; with reward models (serve/reward_api.h)
// also POST /get_reward (OpenRLHF's remote RM) and /v1/rewards. Concurrent requests are batched into one
// engine driven by a single thread; a bounded queue answers 503 when full; request bodies are size
// limited; malformed input gets a 400 with an OpenAI-style error body; an optional API key is
// checked as a bearer token. stop() drains: new requests get 503 while running ones finish.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/options.h"
#include "model/causal_lm.h"
#include "model/tokenizer.h"
#include "rollout/engine.h"
#include "serve/reward_api.h"

namespace rleif::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";       // loopback unless told otherwise
  int64_t port = 8000;                  // 0 = any free port (printed at start)
  std::string model_name;               // the id clients send; "" = the model directory's name
  int64_t max_queue = 256;              // samples waiting beyond the engine's rows; more get 503
  int64_t max_request_bytes = 1 << 20;  // larger bodies get 413
  int64_t http_threads = 64;            // connections served at once
  int64_t default_max_tokens = 16;      // completions' max_tokens when absent (OpenAI's default)
  int64_t max_n = 64;                   // samples per prompt at most
  int64_t max_prompts = 64;             // prompts per completions request at most
  bool access_log = true;               // one stderr line per request: client, method, path, status, ms
  rollout::EngineOptions engine;
  RewardOptions reward;

  template <class V>
  void visit(V& v) {
    v.field("host", host, "address to bind; 127.0.0.1 keeps the server local");
    v.field("port", port, "TCP port; 0 = any free port");
    v.field("model_name", model_name, "model id clients send; empty = the model directory's name");
    v.field("max_queue", max_queue,
            "samples (prompts x n) allowed to wait for a row; beyond that the server answers 503");
    v.field("max_request_bytes", max_request_bytes, "request body size limit (413 above it)");
    v.field("http_threads", http_threads, "connections served concurrently");
    v.field("default_max_tokens", default_max_tokens, "completions' max_tokens when the request gives none");
    v.field("max_n", max_n, "largest n (samples per prompt) accepted");
    v.field("max_prompts", max_prompts, "most prompts in one completions request");
    v.field("access_log", access_log,
            "log one line per request on stderr (client, method, path, status, milliseconds; never headers)");
    v.section("engine", engine, "the generation engine");
    v.section("reward", reward, "reward models (--reward-model): /get_reward and /v1/rewards");
  }
  void validate() const;
};

// The model behind /v1/completions and /v1/chat/completions.
struct GenerationModel {
  model::CausalLM lm;
  Tokenizer tokenizer;
  std::string chat_template;  // Jinja source; "" = none: chat requests get 400
};

class Server {
 public:
  // api_key: "" = no auth.
  Server(model::CausalLM lm, Tokenizer tokenizer, const std::string& chat_template, ServeOptions opts,
         std::string api_key);
  // gen: none = reward endpoints only (completions answer 404); rewards: none = no reward endpoints.
  // At least one of the two. Reward models run on reward_device (cpu | cuda | cuda:N).
  Server(std::optional<GenerationModel> gen, const std::vector<RewardModelSpec>& rewards,
         const std::string& reward_device, ServeOptions opts, std::string api_key);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port; returns the port (the chosen one for port 0). Throws rleif::Error on failure.
  int bind();
  // Serves until stop(); returns once in-flight requests have finished.
  void serve();
  // Thread-safe drain: new requests get 503 at once; returns after the running ones (streams
  // included) have finished and the listener has closed, which ends serve().
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rleif::serve
