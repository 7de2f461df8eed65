// Reward endpoints of `rleif serve --reward-model DIR`: OpenRLHF's remote reward-model shape
// (POST /get_reward, as openrlhf/cli/serve_rm.py answers it) and rleif's own POST /v1/rewards, over
// one or more rm::Scorer models. Each model has one scoring thread that drains a queue of requests and
// scores whole requests together up to reward.batch_size sequences per call, so concurrent requests
// share forward passes and a Scorer (not thread-safe) is only ever used by its own thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/jsonl.h"
#include "core/options.h"
#include "rm/scorer.h"

namespace rleif::serve {

struct RewardOptions {
  int64_t batch_size = 16;   // sequences per forward pass; requests queued together share passes up to this
  int64_t max_items = 256;   // texts per request at most (400 above it)
  int64_t max_queue = 256;   // requests waiting per reward model; more get 503
  int64_t threads = 0;       // intra-op CPU threads for scoring; 0 = leave torch's setting
  int64_t max_length = 0;    // tokens per scored sequence; 0 = the length the model was trained with
  rm::Aggregation aggregation = rm::Aggregation::min;  // PRM reward from step scores (Math-Shepherd: min)

  template <class V>
  void visit(V& v) {
    v.field("batch_size", batch_size, "sequences per forward pass; queued requests are scored together up to this");
    v.field("max_items", max_items, "most texts in one reward request (400 above it)");
    v.field("max_queue", max_queue, "reward requests allowed to wait per model; beyond that the server answers 503");
    v.field("threads", threads, "intra-op CPU threads for scoring; 0 = leave the setting as it is");
    v.field("max_length", max_length, "tokens per scored sequence; 0 = the length the model was trained with");
    v.field("aggregation", aggregation,
            "PRM reward from its step scores when a request names none: min | prod | last | mean");
  }
  void validate() const;
};

// A reward model to serve: the id clients send in "model" and the directory `rleif rm train` wrote.
struct RewardModelSpec {
  std::string name, dir;
};
// "NAME=DIR" or "DIR" (NAME = the directory's last component).
RewardModelSpec parse_reward_model_spec(const std::string& arg);

// One text to score: prompt + response (split into steps by a PRM at non-empty lines), or a PRM's
// explicit steps.
struct RewardItem {
  std::string prompt, response;
  std::vector<std::string> steps;
  bool by_steps = false;
  bool prompt_only = false;  // /v1/rewards item with a prompt alone (an IRM's input)
};

// A validated reward request (either route).
struct RewardRequest {
  std::string model;                 // "" = the first served model
  std::vector<RewardItem> items;
  bool aggregation_given = false;
  rm::Aggregation aggregation = rm::Aggregation::min;
};

// Parsers: throw ApiError(400) naming the field and index ("'query[2]' must be a string").
// /get_reward: {"query": [text...], "prompts"?: [prompt...], "labels"?: ignored, "model"?, "aggregation"?}.
// query[i] is prompt + response: when prompts[i] is given and query[i] starts with it the response is
// the rest; otherwise the prompt is empty and the whole query is the response.
RewardRequest parse_get_reward(const json& body, int64_t max_items);
// /v1/rewards: {"model"?, "items": [{"prompt", "response"} | {"prompt", "steps"}], "aggregation"?}.
RewardRequest parse_v1_rewards(const json& body, int64_t max_items);

// The served reward models and their scoring threads.
class RewardService {
 public:
  // Loads every model (rm::Scorer) and starts one scoring thread each. device: cpu | cuda | cuda:N.
  RewardService(const std::vector<RewardModelSpec>& models, const RewardOptions& opts, const std::string& device);
  ~RewardService();  // stop()
  RewardService(const RewardService&) = delete;
  RewardService& operator=(const RewardService&) = delete;

  // Scores a request (blocking until its turn): per item the score (a PRM's aggregate under the
  // request's aggregation), steps and truncation. Throws ApiError: 404 unknown model, 400 input the
  // model cannot take (steps for a non-PRM, a text that fails to encode), 503 queue full or stopping.
  struct Answer {
    std::string model;
    rm::RmKind kind = rm::RmKind::orm;
    std::vector<rm::Score> scores;
  };
  Answer score(const RewardRequest& r);

  // {"id", "object": "model", "kind", ...} per model for GET /v1/models.
  std::vector<json> model_cards(int64_t created) const;
  bool has(const std::string& name) const;
  // Finishes the queued requests, then ends the scoring threads; later score() calls get 503.
  void stop();

  struct Model;

 private:
  RewardOptions opts_;
  std::vector<std::unique_ptr<Model>> models_;
};

// Response bodies.
json get_reward_response(const RewardService::Answer& a);
json v1_rewards_response(const RewardService::Answer& a);

}  // namespace rleif::serve
