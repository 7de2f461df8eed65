// Best-of-n evaluation from sampled solutions and their reward-model scores: pass@k (unbiased),
// majority voting, RM-weighted majority voting and best-of-k by each scorer, for k = 1, 2, 4, ..., n.
// Let's Verify Step by Step (Lightman et al. 2023) protocol: every k-sample estimate is averaged
// over many random subsets of size k drawn without replacement from the n samples of a problem.
// Plain C++ (no LibTorch), so it runs on scores computed anywhere; the `rleif bestofn` command reads
// files into BestOfNInputs and calls run_bestofn.
#pragma once
#include <cstdint>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/jsonl.h"

namespace rleif::rm {

// One sampled solution of a problem.
struct BonSample {
  bool correct = false;  // its final answer matches the reference
  std::string answer;    // normalised final answer (core/answer.h normalize_answer); "" = no answer
};

struct BonProblem {
  std::string id;
  std::vector<BonSample> samples;  // [n]
};

// A reward model's score of one sample: `score` for sequence models (ORM, IRM, pairwise: the raw
// head output); for a PRM, `steps` holds P(correct) of each step and `score` is ignored.
struct BonScore {
  double score = 0;
  std::vector<double> steps;
};

// All scores of one named reward model. It is treated as a PRM when any sample has step scores.
struct BonScorer {
  std::string name;
  std::vector<std::vector<BonScore>> scores;  // [problems][n], aligned with BestOfNInputs::problems
};

struct BestOfNInputs {
  std::vector<BonProblem> problems;
  std::vector<BonScorer> scorers;
};

struct BestOfNOptions {
  int64_t subsamples = 200;  // random k-subsets per problem and k (Let's Verify averages many)
  int64_t seed = 0;          // fixes every subset and tie break: the same inputs give the same numbers
  std::vector<int64_t> ks;   // empty = 1, 2, 4, ... below n, and n (the smallest n over problems)
  // PRM solution scores from step scores, one method per entry: min (Math-Shepherd, WizardMath),
  // prod (Let's Verify), last (Snell et al. 2024), mean.
  std::vector<std::string> aggregations = {"min", "prod"};
  // Weighted voting needs non-negative weights: sequence scores are head logits, so they go through
  // a sigmoid (P(correct) for a BCE-trained ORM). raw = use them as they are. PRM aggregates are
  // probabilities already and are used as they are.
  std::string sequence_weight = "sigmoid";
  // Paired differences to report, each "A>B" with A and B method names (best_of/prm_min>best_of/orm):
  // the mean over problems of A's accuracy minus B's, with its standard error over problems. Empty =
  // every best_of/<label> against majority, weighted/<label> against best_of/<label>, and each pair
  // of best_of methods.
  std::vector<std::string> compare;

  template <class V>
  void visit(V& v) {
    v.field("subsamples", subsamples, "random k-sample subsets per problem and k");
    v.field("seed", seed, "seed of the subsets and tie breaks");
    v.field("ks", ks, "sample counts k to report; [] = 1, 2, 4, ... and n");
    v.field("aggregations", aggregations, "PRM step-score aggregations, one method each: min | prod | last | mean");
    v.field("sequence_weight", sequence_weight,
            "weights of sequence (ORM/IRM/pairwise) scores in weighted voting: sigmoid | raw");
    v.field("compare", compare,
            "paired differences \"A>B\" of method names, with their standard error over problems; [] = the "
            "default set");
  }
  void validate() const;
};

// Reduces PRM step scores [S] to one solution score; an empty list gives 1 (no evidence against),
// as rm/scorer.h's aggregate_steps. `how` is min | prod | last | mean.
double aggregate_step_scores(const std::vector<double>& steps, const std::string& how);

// Unbiased pass@k of one problem with n samples of which c are correct (Chen et al. 2021):
// 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i).
double pass_at_k(int64_t n, int64_t c, int64_t k);

struct BonMethod {
  std::string name;          // pass@k | majority | best_of/<scorer> | weighted/<scorer>
  std::vector<double> mean;    // [K] accuracy, mean over problems (and subsets)
  std::vector<double> stddev;  // [K] spread: see BestOfNResult::spread
  std::vector<double> sem;     // [K] standard error over problems: see BestOfNResult::sem_is
};

// A minus B, problem by problem: the paired comparison of two methods on the same samples.
struct BonPaired {
  std::string a, b;
  std::vector<double> diff;  // [K] mean over problems of accuracy(A) - accuracy(B)
  std::vector<double> se;    // [K] its standard error: std over problems of the differences / sqrt(P)
  std::vector<int64_t> wins, losses;  // [K] problems where A's accuracy is above / below B's
};

struct BestOfNResult {
  int64_t n = 0;                 // samples per problem (the smallest, when they differ)
  std::vector<int64_t> k;        // [K]
  std::vector<BonMethod> methods;
  int64_t problems = 0;
  int64_t subsamples = 0;
  int64_t seed = 0;
  // What `stddev` ("std" in JSON) is: the standard deviation, over the `subsamples` repeats, of the benchmark accuracy
  // of one repeat (repeat r uses subset r of every problem). It measures the luck of which k samples
  // are drawn, not the sampling error of the problem set.
  static constexpr const char* spread = "std over subsample repeats of the benchmark mean";
  // What `sem` is: each problem's accuracy (mean over its subsets; pass@k exact) varies from problem
  // to problem; sem = their standard deviation / sqrt(problems), the standard error of the benchmark
  // mean were the problems drawn again. Two methods on the same samples are better compared by
  // `paired`, whose standard error leaves out what they share.
  static constexpr const char* sem_is = "std over problems of the per-problem accuracy / sqrt(problems)";
  std::vector<BonPaired> paired;
  // How well each scorer label (scorer_labels order) tells a problem's right samples from its wrong
  // ones: over every (right, wrong) pair of samples of the same problem, pooled over problems, the
  // share the scorer orders right first (ties count 1/2). 0.5 is chance; best-of-k can only beat
  // voting when it is well above. A global AUC also rewards knowing which problems are hard; this does
  // not. NaN when no problem has both right and wrong samples.
  struct Discrimination {
    std::string label;
    double within_problem_auc = 0;
    int64_t pairs = 0;  // (right, wrong) pairs counted
  };
  std::vector<Discrimination> discrimination;
  int64_t mixed_problems = 0;  // problems with both right and wrong samples
  // {"n", "k", "methods": {name: {"mean", "std", "sem"}}, "problems", "subsamples", "seed", "spread",
  // "sem", "paired": [{"a", "b", "diff", "se", "wins", "losses"}], "within_problem_auc": {label: value
  // or null}, "within_problem_pairs": {label: n}, "mixed_problems"}, methods in the order above.
  nlohmann::ordered_json to_json() const;
  // The inverse of to_json, also of files from before "sem"/"paired" (2026-12-07) and
  // "within_problem_auc" (2026-12-06); errors name `where` (the file) and what is missing or wrong.
  static BestOfNResult from_json(const nlohmann::ordered_json& j, const std::string& where);
  // from_json of a bestofn.json file; a parse error names its line.
  static BestOfNResult read(const std::string& path);
  const BonMethod* find(const std::string& name) const;
};

// Scorer labels of the methods: a sequence scorer's name, or "<name>_<aggregation>" for a PRM.
std::vector<std::string> scorer_labels(const BestOfNInputs& in, const BestOfNOptions& opts);

// Computes every method. Errors (rleif::Error) name the problem id: a scorer whose scores do not
// line up with the samples, samples with the same answer but different correctness, ks above n.
BestOfNResult run_bestofn(const BestOfNInputs& in, const BestOfNOptions& opts);

}  // namespace rleif::rm
