// The built-in grade-school math domain (docs/DESIGN.md, "The built-in math domain").
//
// A problem is a chain of relations: a first quantity, then 1-8 steps, each deriving a new quantity
// from the previous one by +, -, * or an exact /, told in one of several templates (collections,
// shopping, sharing, rates, ages):
//
//   Ava has 12 marbles. Ben has 5 more marbles than Ava. Cara has 3 times as many marbles as Ben.
//   How many marbles does Cara have?
//
// The solution writes one step per line with its arithmetic and ends in WizardMath's answer line:
//
//   Ben has 12 + 5 = 17 marbles.
//   Cara has 17 * 3 = 51 marbles.
//   The answer is: 51
//
// Everything is deterministic from a seed (evol/rng.h), so `rleif data synth`, SyntheticTeacher and
// the tests see the same problems on every machine. Operands stay small (mostly < 100) and answers
// below 10000, so a tiny model can learn the domain. Rendering is invertible: parse_problem() reads a
// rendered question back, which is how SyntheticTeacher "understands" a prompt and how the step
// checker knows the intended values.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/jsonl.h"
#include "core/options.h"

namespace rleif::evol {

enum class MathOp { add, sub, mul, div };

// Why a problem is ill-posed (none = well-posed).
enum class MathDefect {
  none,
  missing_quantity,  // the first quantity is not given ("Ava has some marbles.")
  contradiction,     // the first quantity is stated twice with different values
  impossible,        // a step takes away more than there is (a negative count)
};

// Ways to evolve a problem (SyntheticTeacher maps Evol-Instruct operations onto these).
enum class MathEvolution {
  add_step,             // harder: one more relation at the end (a new constraint to satisfy)
  bigger_numbers,       // harder: every quantity scaled by 2-4
  remove_step,          // easier: drop the last relation (needs >= 2 steps)
  new_template,         // in-breadth: a new story (template) with the same number of steps
  easier_new_template,  // easier: a new story with one step fewer (at least 1) and small numbers
};

// One relation of the chain: after = before op operand.
struct MathStep {
  MathOp op = MathOp::add;
  int64_t operand = 0;
  int64_t before = 0;
  int64_t after = 0;
  int phrase = 0;  // which wording of the template's sentence for `op`
};

struct MathProblem {
  // What data consumers read (to_json):
  std::string template_name;       // "collections", "shopping", "sharing", "rates" or "ages"
  std::string question;            // the word problem
  std::vector<std::string> steps;  // one short sentence per step with its arithmetic; empty if ill-posed
  std::string solution;            // steps joined by "\n", then "\nThe answer is: N"; empty if ill-posed
  int64_t answer = 0;              // exact integer answer; 0 when ill-posed
  int n_steps = 0;                 // chain.size()
  MathDefect defect = MathDefect::none;

  // The structure that evolution edits; question/steps/solution are rendered from it.
  std::vector<std::string> entities;  // entities[0] holds `start`; entities[i + 1] is chain[i]'s result
  int64_t start = 0;
  std::vector<MathStep> chain;
  int64_t restated_start = 0;  // the conflicting second value (defect == contradiction)

  bool well_posed() const { return defect == MathDefect::none; }
  // {"question", "steps", "solution", "answer", "n_steps", "template"}, plus "defect" when ill-posed.
  json to_json() const;
};

// The template names, in a fixed order.
const std::vector<std::string>& math_template_names();

// Problem i of the stream is a function of (seed, i) alone: the first n of a longer call are the same
// problems. Step counts are uniform in [min_steps, max_steps] (1 <= min <= max <= 8).
std::vector<MathProblem> generate_problems(int64_t n, uint64_t seed, int min_steps, int max_steps);
// One problem with `n_steps` steps; template_name "" draws the template from the seed.
MathProblem generate_problem(uint64_t seed, int n_steps, const std::string& template_name = "");

// The evolved problem, or nullopt when that evolution does not apply (remove_step on one step,
// bigger_numbers or add_step past the limits). Deterministic in (problem, kind, seed).
std::optional<MathProblem> evolve_problem(const MathProblem& p, MathEvolution kind, uint64_t seed);
// An ill-posed variant of a well-posed problem (defect != none).
MathProblem make_ill_posed(const MathProblem& p, MathDefect defect, uint64_t seed);
// A solution of `p` whose step `error_step` (0-based, < n_steps) is wrong, either a wrong result or
// a wrong operation, with later steps built consistently on the wrong value. Steps joined by "\n"
// with the final "The answer is: N" line, like MathProblem::solution.
std::string corrupt_solution(const MathProblem& p, int error_step, uint64_t seed);

// Reads a rendered question back into its problem; nullopt for text that is not a well-posed
// problem of this domain (other text, a missing quantity, a contradiction, an impossible step).
std::optional<MathProblem> parse_problem(std::string_view question);

// The non-empty, trimmed lines of a solution text (the PRM step split).
std::vector<std::string> solution_steps(std::string_view solution);

struct StepVerdict {
  bool correct = false;
  std::string reason;  // why a step is wrong ("12 + 5 = 18 is false"); empty when correct
};
// Judges each step of a solution to `question`. A step is correct when every equation in it
// ("a op b = c", "a op b op c = d") holds exactly, uses only numbers from the question or from
// earlier correct steps, and yields one of the problem's intended quantities; a step with "The
// answer is" must state the final quantity, and one that an earlier correct step computed (an
// answer without the work is wrong: a process label rewards the process); a step without
// arithmetic is correct. An error
// propagates: a step built on a wrong earlier result is wrong. nullopt when the question is not a
// well-posed problem of this domain.
std::optional<std::vector<StepVerdict>> check_steps(std::string_view question, const std::vector<std::string>& steps);

}  // namespace rleif::evol

RLEIF_ENUM_NAMES(rleif::evol::MathOp, {rleif::evol::MathOp::add, "add"}, {rleif::evol::MathOp::sub, "sub"},
                 {rleif::evol::MathOp::mul, "mul"}, {rleif::evol::MathOp::div, "div"});
RLEIF_ENUM_NAMES(rleif::evol::MathDefect, {rleif::evol::MathDefect::none, "none"},
                 {rleif::evol::MathDefect::missing_quantity, "missing_quantity"},
                 {rleif::evol::MathDefect::contradiction, "contradiction"},
                 {rleif::evol::MathDefect::impossible, "impossible"});
RLEIF_ENUM_NAMES(rleif::evol::MathEvolution, {rleif::evol::MathEvolution::add_step, "add_step"},
                 {rleif::evol::MathEvolution::bigger_numbers, "bigger_numbers"},
                 {rleif::evol::MathEvolution::remove_step, "remove_step"},
                 {rleif::evol::MathEvolution::new_template, "new_template"},
                 {rleif::evol::MathEvolution::easier_new_template, "easier_new_template"});
