// The teacher prompts: Evol-Instruct's in-depth and in-breadth templates, WizardMath's downward
// evolution (project-authored), the equality judge, the answer prompt, the IRM ranking prompt and
// the PRM step-judging prompt. Built-ins are compiled in; a directory of <name>.txt files can
// override any of them (evolution.prompts_dir). Placeholders are {name}; {{ and }} are literal braces.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/options.h"
#include "evol/teacher.h"

namespace rleif::evol {

// Evol-Instruct operations. The first five are in-depth (upward), breadth is in-breadth, the last
// two are WizardMath's downward evolution. WizardMath's math upward evolution is add_constraints,
// concretizing and increase_reasoning (shared/data/evol/wizardmath_math_evol_principles.txt).
enum class EvolOp {
  add_constraints,
  deepening,
  concretizing,
  increase_reasoning,
  complicate_input,
  breadth,
  downward,
  downward_topic,
};
constexpr int kEvolOps = 8;

// A template with {name} placeholders, validated when made: every placeholder must be one of
// `allowed`, and every `required` one must occur.
class PromptTemplate {
 public:
  PromptTemplate() = default;
  // `origin` names the source in errors ("built-in answer" or a file path).
  PromptTemplate(std::string text, const std::vector<std::string>& allowed, const std::vector<std::string>& required,
                 std::string origin);
  std::string fill(const std::map<std::string, std::string>& values) const;
  // Reads a filled prompt back into its placeholder values (SyntheticTeacher reads prompts this
  // way): the literal parts must match in order. nullopt when `filled` is not this template.
  std::optional<std::map<std::string, std::string>> match(const std::string& filled) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string origin_;
};

struct Prompts {
  PromptTemplate evolve[kEvolOps];  // {instruction}
  PromptTemplate equality;          // {first}, {second}: Evol-Instruct's elimination rule 1
  std::string answer_system;        // system message for answers
  PromptTemplate answer;            // {instruction}: WizardMath's CoT prompt
  PromptTemplate rank;              // {instruction}, {candidates}, {n}
  PromptTemplate judge_steps;       // {question}, {steps}, {n}

  // The built-ins, overridden by <dir>/<name>.txt where present (dir may be empty). Names are the
  // op names (add_constraints.txt, ...) and equality, answer_system, answer, rank, judge_steps. An
  // unknown *.txt name, an unknown placeholder or a missing one is an error naming the file.
  static Prompts load(const std::string& dir);

  Messages evolve_messages(EvolOp op, const std::string& instruction) const;
  Messages equality_messages(const std::string& first, const std::string& second) const;
  Messages answer_messages(const std::string& instruction) const;
  // Candidates are listed as "[1] ...", "[2] ..." (one per line).
  Messages rank_messages(const std::string& original, const std::vector<std::string>& candidates) const;
  // Steps are listed as "Step 1: ...", "Step 2: ...".
  Messages judge_messages(const std::string& question, const std::vector<std::string>& steps) const;
};

// Every prompt file name Prompts::load understands (without .txt).
std::vector<std::string> prompt_names();

}  // namespace rleif::evol

RLEIF_ENUM_NAMES(rleif::evol::EvolOp, {rleif::evol::EvolOp::add_constraints, "add_constraints"},
                 {rleif::evol::EvolOp::deepening, "deepening"}, {rleif::evol::EvolOp::concretizing, "concretizing"},
                 {rleif::evol::EvolOp::increase_reasoning, "increase_reasoning"},
                 {rleif::evol::EvolOp::complicate_input, "complicate_input"},
                 {rleif::evol::EvolOp::breadth, "breadth"}, {rleif::evol::EvolOp::downward, "downward"},
                 {rleif::evol::EvolOp::downward_topic, "downward_topic"});
