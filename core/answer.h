// Final-answer extraction and comparison for math solutions.
//
// WizardMath ends a solution with "The answer is: N" and scores the number after the last such
// marker (WizardMath/inference/gsm8k_inference.py, extract_answer_number); GSM8K's reference
// solutions end with "#### N". Both are read here, and answers are compared as exact rationals so
// "1,000", "1000.0", "+1000", "$1,000" and "1000." are equal, as are "3/4", "0.75" and "\frac{3}{4}".
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rleif {

// The final answer of a solution text: what follows the last "The answer is" (colon optional) or
// the last "####", whichever comes later, up to the end of that line. A number there is returned as
// written, minus a leading '$' and a trailing '.' or ',' ("$1,000." -> "1,000"); "\frac{a}{b}" is
// returned as "a/b"; any other non-empty text (a MATH-style expression) is returned trimmed.
// nullopt when there is no marker or nothing after it.
std::optional<std::string> extract_answer(std::string_view text);

// An exact rational number num/den with den > 0 and gcd(|num|, den) == 1.
struct Rational {
  int64_t num = 0;
  int64_t den = 1;
  bool operator==(const Rational& o) const { return num == o.num && den == o.den; }
  bool operator!=(const Rational& o) const { return !(*this == o); }
};

// Parses a whole answer string as a number: optional sign, optional '$', digits with optional
// thousands commas, optional decimal part, optional "/denominator", optional trailing '%' (which
// divides by 100) or '.'; also "\frac{a}{b}" / "\dfrac{a}{b}" and "\boxed{...}" around any of these.
// nullopt when the text is not such a number or does not fit in 64-bit integers.
std::optional<Rational> parse_number(std::string_view answer);

// A canonical string for an answer: "1000", "-3/4" for numbers (parse_number); otherwise the text
// lower-cased with whitespace, '$' and a trailing '.' removed.
std::string normalize_answer(std::string_view answer);

// True when two answer strings (not whole solutions: run extract_answer first) denote the same
// answer: equal as exact numbers when both parse, otherwise equal canonical strings.
bool answers_match(std::string_view predicted, std::string_view truth);

}  // namespace rleif
