// Reward-model records and their readers. Every reader validates each record and names file:line and
// what was expected in its errors; with on_error=skip a malformed record is counted and skipped.
//
//   IRM list   {"seed_id"?, "candidates": [str...], "ranking": [index best..worst]}   (rleif evol's irm_lists.jsonl)
//   PRM        rleif prm_steps {"prompt", "steps", "labels"}; Math-Shepherd {"input", "label"} with `ки`
//              step tags and +/- labels; PRM800K (openai/prm800k phase files); TRL stepwise_supervision
//              {"prompt", "completions", "labels"}; PRMBench and MR-GSM8K (evaluation: labels from the
//              annotated error steps)
//   ORM        {"prompt", "response", "label"} or GSM8K's example_model_solutions.jsonl (one record per
//              model solution with its is_correct)
//   pairwise   {"prompt"?, "chosen", "rejected", "margin"?}
// Choices the formats leave open (details in rm/data_prm.cc and rm/data.cc):
//   - PRM800K records with finish_reason "bad_problem" or "give_up" are left out: counted in
//     ReadStats::records, neither used nor bad. A solution ends at its first -1-rated step.
//   - rleif/TRL labels: null = unlabelled (-1); -1 itself is an error (a rating, not a label).
//   - PRMBench id = "idx:classification" (idx repeats across error classes); MR-GSM8K drops blank
//     steps and moves the first error with them.
//   - ORM from example_model_solutions.jsonl: one line gives one example per model, so
//     ReadStats::used counts examples (items.size()), not lines.
//   - pairwise message lists: the response is the last assistant turn; the prompt is the user turns
//     before it joined by blank lines (system turns ignored), unless "prompt" is given.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "core/options.h"

namespace rleif::rm {

enum class PrmFormat { auto_, rleif, math_shepherd, prm800k, trl, prmbench, mr_gsm8k };
enum class BadRecord { error, skip };

struct ReadOptions {
  int64_t limit = 0;                      // keep the first N usable records (0 = all)
  BadRecord on_error = BadRecord::error;  // malformed record: stop naming file:line, or skip and count
};

struct PrmReadOptions : ReadOptions {
  PrmFormat format = PrmFormat::auto_;    // auto: decided from the first record's keys
  bool neutral_positive = true;           // PRM800K rating 0 counts as correct (Let's Verify's default)
  std::string step_tag = "ки";            // Math-Shepherd's step tag
};

struct ReadStats {
  int64_t records = 0;  // non-blank lines read
  int64_t used = 0;     // records kept
  int64_t bad = 0;      // malformed records skipped (on_error=skip)
  std::string first_bad;  // the first skipped record's error message
  std::string summary() const;  // "120 records, 118 used, 2 malformed skipped (first: ...)"
};

// One teacher-ranked list of K evolved instructions.
struct IrmList {
  std::string id;                       // "seed_id" (+ ":round" when given), else "line N"
  std::vector<std::string> candidates;  // [K] distinct non-empty texts, K >= 2
  std::vector<int64_t> ranking;         // [K] a permutation of 0..K-1, best first
  SourceLoc loc;
};

// One solution with a label per step.
struct PrmExample {
  std::string id;
  std::string prompt;               // the question
  std::vector<std::string> steps;   // [S] non-empty step texts, S >= 1
  std::vector<float> labels;        // [S] 1 correct, 0 wrong, in (0,1) soft; -1 = unlabelled (no loss, no metric)
  SourceLoc loc;
  // Index of the first step labelled < 0.5, or -1 when every labelled step is correct.
  int64_t first_error() const;
};

// One solution with an outcome label.
struct OrmExample {
  std::string id;
  std::string prompt;
  std::string response;
  float label = 0;  // 1 correct, 0 wrong (soft values allowed)
  SourceLoc loc;
};

// One preference pair.
struct PairExample {
  std::string id;
  std::string prompt;  // may be empty (TRL's implicit-prompt form)
  std::string chosen;
  std::string rejected;
  float margin = 0;    // Llama 2's margin m in -log sigma(r_c - r_r - m)
  SourceLoc loc;
};

template <class T>
struct Records {
  std::vector<T> items;
  ReadStats stats;
};

Records<IrmList> read_irm_lists(const std::string& path, const ReadOptions& opts = {});
Records<PrmExample> read_prm_examples(const std::string& path, const PrmReadOptions& opts = {});
Records<OrmExample> read_orm_examples(const std::string& path, const ReadOptions& opts = {});
Records<PairExample> read_pair_examples(const std::string& path, const ReadOptions& opts = {});

// The format of a PRM file judged from its first record's keys (errors name the file when none fits).
PrmFormat detect_prm_format(const std::string& path);

}  // namespace rleif::rm

RLEIF_ENUM_NAMES(rleif::rm::PrmFormat, {rleif::rm::PrmFormat::auto_, "auto"}, {rleif::rm::PrmFormat::rleif, "rleif"},
                 {rleif::rm::PrmFormat::math_shepherd, "math_shepherd"}, {rleif::rm::PrmFormat::prm800k, "prm800k"},
                 {rleif::rm::PrmFormat::trl, "trl"}, {rleif::rm::PrmFormat::prmbench, "prmbench"},
                 {rleif::rm::PrmFormat::mr_gsm8k, "mr_gsm8k"});
RLEIF_ENUM_NAMES(rleif::rm::BadRecord, {rleif::rm::BadRecord::error, "error"}, {rleif::rm::BadRecord::skip, "skip"});
