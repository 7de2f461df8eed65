// The reference final answer a JSONL record carries, for every reader that checks answers against
// it (rleif bestofn, rm label-mc, evol's PRM stage).
#pragma once
#include <optional>
#include <string>

#include "core/jsonl.h"

namespace rleif {

// A record's own reference answer ("truth", else "answer"), read as load_eval_problems reads
// "answer": a number, or text whose final answer is extracted (GSM8K's "... #### 18"), else the text
// itself; nullopt when neither key is there (or it is null). Errors name `loc`: a value that is not a
// number or a string, an empty one.
std::optional<std::string> record_truth(const json& rec, const SourceLoc& loc);

}  // namespace rleif
