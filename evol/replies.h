// Parsers for the teacher's judging replies. Real teachers are sloppy: they number lists, echo the
// candidates, add prose; these parsers accept what a careful reader would, and say no otherwise.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rleif::evol {

// A ranking of n candidates (numbered 1..n in the prompt) as 0-based indices, best first. Accepts
// "[2] > [1] > [3]", "2, 1, 3", "1. [2]\n2. [1]\n3. [3]", "Candidate 2 ... Candidate 1 ...",
// numbered lines ("1) 2"), and prose mentioning [k] in order. Repeats count once; one missing
// candidate is placed last. nullopt when fewer than n - 1 candidates can be read.
std::optional<std::vector<int>> parse_ranking(std::string_view reply, int n);

// One label per step (1 correct, 0 incorrect) for n steps, from lines such as "Step 2: incorrect",
// "step 3 - correct (because ...)", "Step 1: ✓", or a bare list "[1, 0, 1]". nullopt unless every
// step 1..n gets exactly one verdict.
std::optional<std::vector<int>> parse_step_labels(std::string_view reply, int n);

// Evol-Instruct's equality judge: true for "Equal", false for "Not Equal"; nullopt when the reply
// says neither.
std::optional<bool> parse_equal(std::string_view reply);

}  // namespace rleif::evol
