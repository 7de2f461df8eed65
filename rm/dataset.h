// A reward-model data set ready for training or evaluation: records read (rm/data.h) and encoded
// (rm/encode.h) into units — one IRM list, one PRM solution, one ORM solution or one preference pair
// each — and the forward pass that reads the score head at every unit's score positions.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/score_model.h"
#include "rm/data.h"
#include "rm/encode.h"

namespace rleif::rm {

struct RmDataOptions {
  RmKind kind = RmKind::prm;
  std::string train;                     // training JSONL
  std::string eval;                      // held-out JSONL ("" = split eval_split off train, or none)
  double eval_split = 0.0;               // share of train held out when data.eval is empty (seeded by train.seed)
  PrmFormat format = PrmFormat::auto_;   // PRM file format
  bool neutral_positive = true;          // PRM800K: rating 0 counts as correct
  std::string step_tag = "ки";           // Math-Shepherd step tag
  bool until_first_error = false;        // PRM: supervise steps up to the first wrong one only (Let's Verify)
  BadRecord on_error = BadRecord::error; // malformed record: error naming file:line, or skip and count
  int64_t limit = 0;                     // first N training records (0 = all)

  template <class V>
  void visit(V& v) {
    v.field("kind", kind, "irm (ranked instruction lists) | prm (step labels) | orm (outcome labels) | pairwise (chosen/rejected)");
    v.field("train", train, "training JSONL (shapes: docs/REWARD_MODELS.md)");
    v.field("eval", eval, "held-out JSONL (\"\" = hold out data.eval_split of data.train, or none)");
    v.field("eval_split", eval_split, "share of data.train held out for evaluation when data.eval is empty");
    v.field("format", format, "PRM format: auto | rleif | math_shepherd | prm800k | trl | prmbench | mr_gsm8k");
    v.field("neutral_positive", neutral_positive, "PRM800K: a neutral (0) rating counts as a correct step");
    v.field("step_tag", step_tag, "Math-Shepherd's step tag");
    v.field("until_first_error", until_first_error, "PRM: train only on steps up to the first wrong one");
    v.field("on_error", on_error, "a malformed record: error (naming file:line) | skip (counted)");
    v.field("limit", limit, "use the first N training records (0 = all)");
  }
  void validate() const;
};

// One unit of loss.
struct Unit {
  std::vector<Encoded> seqs;       // IRM: K candidates; pairwise: {chosen, rejected}; PRM/ORM: one
  std::vector<int64_t> ranking;    // IRM: best first
  std::vector<float> labels;       // PRM: one per kept step (-1 = unlabelled); ORM: one
  float margin = 0;                // pairwise
  int64_t first_error = -1;        // PRM: the labelled first wrong step (-1 = none), over all steps
  int64_t steps_total = 0;         // PRM: steps before truncation
  int64_t tokens = 0;
  std::string id;
};

struct RmDataset {
  RmKind kind = RmKind::prm;
  std::vector<Unit> units;
  ReadStats read;
  EncodeStats encode;
  int64_t dropped = 0;             // units dropped: skipped for length, or PRM solutions with no labelled step
  double weight(size_t i) const;   // loss units of unit i (PRM: its labelled steps; others: 1)
  std::string summary() const;
};

// Reads `path` as `opts.kind` and encodes every record.
RmDataset load_rm_dataset(const std::string& path, const RmDataOptions& opts, Encoder& enc, int64_t limit);
// Moves a seeded share of `from`'s units into a new data set (the held-out part).
RmDataset split_off(RmDataset& from, double share, uint64_t seed);

// The backbone's last hidden states of the sequences as rows: hidden [N,H], ids [N] (CPU) the token
// of each row, offset[b] the row of sequence b's first token. On the CPU the sequences run
// padding-free as one packed row when the model can (TransformerImpl::packed_is_fast), else
// right-padded (rows of padding then sit between sequences and are never read).
struct BackboneRows {
  torch::Tensor hidden;         // [N,H]
  torch::Tensor ids;            // [N] int64, on the CPU
  std::vector<int64_t> offset;  // [B]
};
BackboneRows backbone_rows(model::Transformer& m, const std::vector<const Encoded*>& seqs, const torch::Device& device);

// Runs the model over the sequences and returns the head's logits at every score position, in order
// of sequences then positions: [E, C] fp32 (the rows of backbone_rows).
torch::Tensor end_logits(model::ScoreModel& m, const std::vector<const Encoded*>& seqs, const torch::Device& device);

}  // namespace rleif::rm
