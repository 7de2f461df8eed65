// Batched reward-model scoring with the same encoding as training (rm/encode.h): a sequence score
// for IRM / ORM / pairwise models, one P(correct) per step for a PRM, plus the PRM's aggregate.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rm/encode.h"
#include "rm/net.h"

namespace rleif::rm {

struct ScorerOptions {
  std::string device = "cpu";  // cpu | cuda | cuda:N
  int64_t batch_size = 16;     // sequences per forward
  int64_t threads = 0;         // intra-op CPU threads; 0 = torch's default
  int64_t max_length = 0;      // 0 = the model's recorded max_length (rleif_rm.json)
  Aggregation aggregation = Aggregation::min;  // PRM solution score from its step scores

  template <class V>
  void visit(V& v) {
    v.field("device", device, "cpu | cuda | cuda:N");
    v.field("batch_size", batch_size, "sequences per forward pass");
    v.field("threads", threads, "intra-op CPU threads; 0 = torch's default");
    v.field("max_length", max_length, "tokens per sequence; 0 = the length the model was trained with");
    v.field("aggregation", aggregation, "PRM solution score from step scores: min | prod | last | mean");
  }
  void validate() const;
};

// One scored text. For a PRM, `steps` holds P(correct) of each step and `score` their aggregate;
// for the other kinds `score` is the raw head output and `steps` is empty.
struct Score {
  double score = 0;
  std::vector<double> steps;
  bool truncated = false;  // the encoding was cut to max_length (late steps then score as the last kept)
};

class Scorer {
 public:
  // dir: a reward model written by `rleif rm train` (its rleif_rm.json names kind and template).
  Scorer(const std::string& dir, const ScorerOptions& opts = {});
  ~Scorer();
  RmKind kind() const;
  const EncodeOptions& encoding() const;
  // The pieces, for evaluation on whole data sets (rm eval).
  RewardNet& net();
  Encoder& encoder();
  torch::Device device() const;
  // Scores prompt + response pairs (a PRM splits the response into steps at non-empty lines).
  std::vector<Score> score(const std::vector<std::pair<std::string, std::string>>& items);
  // Scores solutions given as explicit steps (PRM) .
  std::vector<Score> score_steps(const std::vector<std::pair<std::string, std::vector<std::string>>>& items);
  // Scores instructions alone (IRM).
  std::vector<Score> score_instructions(const std::vector<std::string>& items);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reduces step scores [S] to a solution score (Let's Verify: prod; Math-Shepherd / WizardMath: min;
// Snell et al.: last). An empty list gives 1 (no evidence against).
double aggregate_steps(const std::vector<double>& steps, Aggregation a);

}  // namespace rleif::rm
