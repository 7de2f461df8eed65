// Shared pieces of the reward-model tests: the math domain's tokenizer, a tiny Llama config and
// step-labelled solutions from evol's corrupt_solution (the error step and every later one wrong).
#pragma once
#include <string>
#include <vector>

#include "core/jsonl.h"

namespace rleif::test {

// Writes tokenizer.json for the math domain into dir (trained on a few hundred problems) and returns its path.
std::string write_math_tokenizer(const std::string& dir);
// A tiny Llama config.json (2 layers x 32 wide, vocab 1024) in dir; returns its path.
std::string write_tiny_config(const std::string& dir, int layers = 2, int hidden = 32);
// n PRM records {"prompt", "steps", "labels"} of the math domain: every other solution corrupted.
std::vector<json> math_prm_records(int n, uint64_t seed);
// n IRM lists: K problems of 1..K steps ranked hardest first (a ranking a model can learn).
std::vector<json> math_irm_records(int n, int k, uint64_t seed);
// Writes records as JSONL; returns the path.
std::string write_records(const std::string& path, const std::vector<json>& recs);

}  // namespace rleif::test
