// Reward-model scoring of a JSONL file, shared by `rleif rm score` and `rleif bestofn --rm`: one
// {"id", "scores": [{"score", "steps"?, "truncated"?}, ...]} line per input record, in input order.
#pragma once
#include <cstddef>
#include <string>

#include "rm/scorer.h"

namespace rleif::cli {

// What to do when lines already in the output do not belong to the input (an id differs from the
// input record's at the same line, or there are more lines than records).
enum class StaleScores {
  error,    // stop and say so (rm score: the file may be the user's)
  rescore,  // drop the output from the first such line on and score again (bestofn: the file is its own)
};

struct ScoreFileStats {
  size_t records = 0;  // input records
  size_t kept = 0;     // lines already in the output and kept
};

// Scores every record of `input` ({prompt, samples: [{text}]} from rleif generate, {prompt, response},
// PRM {prompt, steps}, IRM {instruction} / {candidates}) into `output`, 64 records at a time.
// Resumable: lines already in the output are kept and scoring continues after them (a line cut by
// a kill is redone).
ScoreFileStats score_file(rm::Scorer& scorer, const std::string& input, const std::string& output,
                          StaleScores stale = StaleScores::error);

}  // namespace rleif::cli
