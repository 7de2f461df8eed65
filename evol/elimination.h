// Evol-Instruct's elimination rules (Xu et al. 2023, §3.3), plus WizardMath's answer filter.
// An evolved item fails when:
//   1. it brings no information gain over its parent (the teacher's equality judgement; the call is
//      made by the engine, parsed by parse_equal in evol/replies.h),
//   2. its response contains "sorry" and is short (under 80 words),
//   3. its response is only punctuation and stop words,
//   4. the evolved instruction copies words of the evolving prompt ("#Rewritten Prompt#", "given prompt"...),
// and, for math, when the response has no final answer or one that is not a number. Eliminated items
// stay in the output with their reason, so every decision can be audited.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "core/options.h"

namespace rleif::evol {

// Reasons written to the "reason" field of an eliminated record.
namespace reason {
constexpr const char* kEmptyInstruction = "empty_instruction";
constexpr const char* kCopiedTemplate = "copied_template_words";  // rule 4
constexpr const char* kNoInformationGain = "no_information_gain";  // rule 1
constexpr const char* kSorryShort = "sorry_short";                 // rule 2
constexpr const char* kStopWordsOnly = "stopwords_only";           // rule 3
constexpr const char* kNoFinalAnswer = "no_final_answer";          // math
constexpr const char* kUnparseableAnswer = "unparseable_final_answer";  // math
constexpr const char* kWrongAnswer = "wrong_answer";               // a seed whose ground truth disagrees
}  // namespace reason

struct EliminationOptions {
  bool equality_check = true;
  int sorry_max_words = 80;
  bool require_answer = true;
  bool numeric_answer = true;
  bool check_truth = true;

  template <class V>
  void visit(V& v) {
    v.field("equality_check", equality_check,
            "rule 1: ask the teacher whether an evolution equals its parent (one extra call per item)");
    v.field("sorry_max_words", sorry_max_words, "rule 2: a response with 'sorry' and fewer words than this fails");
    v.field("require_answer", require_answer, "math: the response must end with 'The answer is: N'");
    v.field("numeric_answer", numeric_answer, "math: ... and N must be a number (off for MATH-style answers)");
    v.field("check_truth", check_truth, "a seed's response must match its ground-truth answer (WizardMath SFT filter)");
  }
  void validate() const;
};

// Rule 4 (and an empty instruction): the reason, or nullopt when the instruction passes.
std::optional<std::string> check_instruction(std::string_view instruction);
// Rules 2, 3 and the math answer filter: the reason, or nullopt when the response passes.
std::optional<std::string> check_response(std::string_view response, const EliminationOptions& opts);

int word_count(std::string_view text);
// True when the text has no word outside the stop-word list (NLTK's English list) and nothing but
// punctuation and spaces besides (an empty text counts).
bool only_stop_words(std::string_view text);

}  // namespace rleif::evol
