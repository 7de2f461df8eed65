// core/answer: final-answer extraction (WizardMath "The answer is:", GSM8K "####") and comparison.
#include <gtest/gtest.h>

#include "core/answer.h"

namespace rleif {
namespace {

TEST(ExtractAnswer, WizardMathMarkerTakesTheLastOccurrence) {
  EXPECT_EQ(extract_answer("Step 1: 2 + 3 = 5.\nThe answer is: 5"), "5");
  EXPECT_EQ(extract_answer("The answer is: 3 is wrong, recheck.\nThe answer is: 7"), "7");
  EXPECT_EQ(extract_answer("So the answer is 12 apples."), "12");
  EXPECT_EQ(extract_answer("The answer is: $1,000."), "1,000");
  EXPECT_EQ(extract_answer("The answer is: -4.5"), "-4.5");
  EXPECT_EQ(extract_answer("The answer is: \\frac{3}{4}"), "3/4");
  EXPECT_EQ(extract_answer("The answer is: $\\boxed{18}$."), "18");
  EXPECT_EQ(extract_answer("The answer is: 3/4 of a cake"), "3/4");
}

TEST(ExtractAnswer, Gsm8kMarker) {
  EXPECT_EQ(extract_answer("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"), "72");
  EXPECT_EQ(extract_answer("#### 1,200"), "1,200");
  EXPECT_EQ(extract_answer("#### 3\n#### 4"), "4");
  // The later of the two markers wins.
  EXPECT_EQ(extract_answer("#### 4\nThe answer is: 5"), "5");
  EXPECT_EQ(extract_answer("The answer is: 5\n#### 4"), "4");
}

TEST(ExtractAnswer, MissingOrEmpty) {
  EXPECT_FALSE(extract_answer("2 + 2 = 4, so she has 4 apples."));
  EXPECT_FALSE(extract_answer("The answer is:   \nnothing here"));
  EXPECT_FALSE(extract_answer(""));
}

TEST(ExtractAnswer, NonNumericExpressionsComeBackWhole) {
  EXPECT_EQ(extract_answer("The answer is: x^y"), "x^y");
  EXPECT_EQ(extract_answer("The answer is: \\frac{\\sqrt{3}}{2}"), "\\frac{\\sqrt{3}}{2}");
}

TEST(ParseNumber, Forms) {
  EXPECT_EQ(parse_number("1000"), (Rational{1000, 1}));
  EXPECT_EQ(parse_number("1,000"), (Rational{1000, 1}));
  EXPECT_EQ(parse_number("1000.0"), (Rational{1000, 1}));
  EXPECT_EQ(parse_number("+1000"), (Rational{1000, 1}));
  EXPECT_EQ(parse_number("$1,000"), (Rational{1000, 1}));
  EXPECT_EQ(parse_number("1000."), (Rational{1000, 1}));
  EXPECT_EQ(parse_number("-12"), (Rational{-12, 1}));
  EXPECT_EQ(parse_number("-$12"), (Rational{-12, 1}));
  EXPECT_EQ(parse_number("0.75"), (Rational{3, 4}));
  EXPECT_EQ(parse_number(".5"), (Rational{1, 2}));
  EXPECT_EQ(parse_number("6/8"), (Rational{3, 4}));
  EXPECT_EQ(parse_number("-\\frac{6}{8}"), (Rational{-3, 4}));
  EXPECT_EQ(parse_number("\\dfrac{1}{3}"), (Rational{1, 3}));
  EXPECT_EQ(parse_number("50%"), (Rational{1, 2}));
  EXPECT_EQ(parse_number("\\boxed{7}"), (Rational{7, 1}));
}

TEST(ParseNumber, RejectsNonNumbersAndOverflow) {
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("twelve"));
  EXPECT_FALSE(parse_number("12 apples"));
  EXPECT_FALSE(parse_number("1/0"));
  EXPECT_FALSE(parse_number("3 + 4"));
  EXPECT_FALSE(parse_number("99999999999999999999999"));
  EXPECT_FALSE(parse_number("0.1234567890123456789012"));
}

TEST(AnswersMatch, EquivalentSpellingsOfOneNumber) {
  for (const char* a : {"1,000", "1000.0", "+1000", "$1,000", "1000.", "1000", "\\boxed{1000}"})
    EXPECT_TRUE(answers_match(a, "1000")) << a;
  EXPECT_TRUE(answers_match("3/4", "0.75"));
  EXPECT_TRUE(answers_match("0.750", "\\frac{3}{4}"));
  EXPECT_TRUE(answers_match("-5", "-5.00"));
  EXPECT_TRUE(answers_match("2.5", "5/2"));
}

TEST(AnswersMatch, DifferentAnswers) {
  EXPECT_FALSE(answers_match("-5", "5"));
  EXPECT_FALSE(answers_match("0.33", "1/3"));
  EXPECT_FALSE(answers_match("1001", "1000"));
  EXPECT_FALSE(answers_match("10", "1,000"));
  EXPECT_FALSE(answers_match("", ""));
  EXPECT_FALSE(answers_match("abc", "12"));
}

TEST(AnswersMatch, NonNumericAnswersCompareCanonically) {
  EXPECT_TRUE(answers_match("x^2 + 1", "X^2+1."));
  EXPECT_FALSE(answers_match("x^2 + 1", "x^2 + 2"));
  EXPECT_EQ(normalize_answer(" 1,000.00 "), "1000");
  EXPECT_EQ(normalize_answer("-0.25"), "-1/4");
}

TEST(ExtractThenMatch, EndToEndOnSolutions) {
  auto p = extract_answer("She pays 3 * 4 = 12 dollars.\nThe answer is: 12.0");
  ASSERT_TRUE(p);
  auto t = extract_answer("He pays <<3*4=12>>12 dollars.\n#### 12");
  ASSERT_TRUE(t);
  EXPECT_TRUE(answers_match(*p, *t));
}

}  // namespace
}  // namespace rleif
