// Reward-model inputs as token ids, with the index of every token a score is read at. Training and
// scoring use this one encoding, so a model scores exactly what it was trained on:
//   IRM                 BOS? instruction EOS                     score at the last real token
//   ORM / pairwise      BOS? prompt(template) response EOS        score at the last real token
//   PRM                 BOS? prompt(template) step_1 sep ... step_S sep
//                       each segment tokenised on its own, so step s ends at the last token of
//                       "step_s sep" whatever the tokenizer merges across segments (TRL's PRMTrainer)
// Over-long inputs are truncated from the end (the PRM keeps the steps that fit, with their labels),
// skipped, or rejected, as EncodeOptions::overlong says; every case is counted in EncodeStats.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"
#include "model/tokenizer.h"
#include "train/sft_data.h"

namespace rleif::rm {

enum class RmKind { irm, prm, orm, pairwise };
enum class Aggregation { min, prod, last, mean };

struct EncodeOptions {
  train::PromptTemplate prompt_template = train::PromptTemplate::alpaca;  // as the policy was trained
  int64_t max_length = 512;            // tokens per sequence
  std::string step_separator = "\n";   // appended to every PRM step (TRL's step_separator)
  train::Overlong overlong = train::Overlong::truncate;

  template <class V>
  void visit(V& v) {
    v.field("template", prompt_template, "prompt template around the question (as the policy was trained)");
    v.field("max_length", max_length, "tokens per sequence");
    v.field("step_separator", step_separator, "text appended to each PRM step; its last token carries the step's label");
    v.field("overlong", overlong, "an input longer than max_length: truncate (PRM keeps whole steps) | skip | error");
  }
  void validate() const;
};

// One encoded sequence.
struct Encoded {
  std::vector<int32_t> ids;      // [T]
  std::vector<int64_t> ends;     // [S] token index of each scored position (one for sequence kinds)
  int64_t response_start = 0;    // index of the first response token (after the prompt); 0 for an IRM
  int64_t dropped_steps = 0;     // PRM steps cut by truncation
  bool truncated = false;
};

struct EncodeStats {
  int64_t sequences = 0;
  int64_t truncated = 0;       // cut to max_length
  int64_t skipped = 0;         // dropped for length (overlong=skip)
  int64_t dropped_steps = 0;   // PRM steps lost to truncation
  int64_t tokens = 0;
  std::string summary() const;
};

class Encoder {
 public:
  Encoder(const Tokenizer& tok, int32_t eos_id, EncodeOptions opts);
  // Empty optional-like result (ids empty) when the input is skipped for length; `where` names the
  // record in errors (overlong=error). Stats are accumulated in stats().
  Encoded instruction(const std::string& text, const std::string& where);
  Encoded prompt_response(const std::string& prompt, const std::string& response, const std::string& where);
  Encoded prompt_steps(const std::string& prompt, const std::vector<std::string>& steps, const std::string& where);
  const EncodeStats& stats() const { return stats_; }
  const EncodeOptions& options() const { return opts_; }

 private:
  Encoded finish_sequence(std::vector<int32_t> ids, const std::string& where);
  const Tokenizer& tok_;
  int32_t eos_id_;
  EncodeOptions opts_;
  EncodeStats stats_;
};

// A response split into steps: its non-empty lines, trimmed (the math domain's and WizardMath's
// one-step-per-line solutions; the same split as evol's solution_steps, which labels them).
std::vector<std::string> split_steps(std::string_view response);

}  // namespace rleif::rm

RLEIF_ENUM_NAMES(rleif::rm::RmKind, {rleif::rm::RmKind::irm, "irm"}, {rleif::rm::RmKind::prm, "prm"},
                 {rleif::rm::RmKind::orm, "orm"}, {rleif::rm::RmKind::pairwise, "pairwise"});
RLEIF_ENUM_NAMES(rleif::rm::Aggregation, {rleif::rm::Aggregation::min, "min"}, {rleif::rm::Aggregation::prod, "prod"},
                 {rleif::rm::Aggregation::last, "last"}, {rleif::rm::Aggregation::mean, "mean"});
