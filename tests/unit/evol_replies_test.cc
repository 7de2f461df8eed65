// evol/replies and evol/elimination: reading sloppy teacher replies; Evol-Instruct's elimination rules.
#include <gtest/gtest.h>

#include "evol/elimination.h"
#include "evol/replies.h"

namespace rleif::evol {
namespace {

using V = std::vector<int>;

TEST(ParseRanking, CommonShapes) {
  EXPECT_EQ(parse_ranking("[2] > [1] > [3]", 3), (V{1, 0, 2}));
  EXPECT_EQ(parse_ranking("2 > 3 > 1", 3), (V{1, 2, 0}));
  EXPECT_EQ(parse_ranking("Ranking: 3, 1, 2", 3), (V{2, 0, 1}));
  EXPECT_EQ(parse_ranking("Here is my ranking from best to worst:\n1. [3]\n2. [1]\n3. [2]\n", 3), (V{2, 0, 1}));
  EXPECT_EQ(parse_ranking("1) 2\n2) 3\n3) 1", 3), (V{1, 2, 0}));
  EXPECT_EQ(parse_ranking("The best is Candidate 2, then Candidate 3, and the worst is Candidate 1.", 3), (V{1, 2, 0}));
  EXPECT_EQ(parse_ranking("1. Instruction #4\n2. Instruction #1\n3. Instruction #3\n4. Instruction #2", 4),
            (V{3, 0, 2, 1}));
}

TEST(ParseRanking, SurvivesEchoesRepeatsAndOneMissing) {
  // The reply echoes the numbered candidates (with numbers of their own) before ranking them.
  EXPECT_EQ(parse_ranking("[1] Ava has 12 marbles...\n[2] Ben has 40 marbles...\n[3] Cara...\n\nRanking: [3] > [1] > [2]", 3),
            (V{2, 0, 1}));
  EXPECT_EQ(parse_ranking("[2] > [2] > [1] > [3]", 3), (V{1, 0, 2}));
  // One candidate left out goes last.
  EXPECT_EQ(parse_ranking("[3] > [1]", 3), (V{2, 0, 1}));
  // Out-of-range numbers are ignored.
  EXPECT_EQ(parse_ranking("[7] [2] [1]", 2), (V{1, 0}));
}

TEST(ParseRanking, UnreadableRepliesAreRejected) {
  EXPECT_FALSE(parse_ranking("These questions are all good ones; each has its merits.", 3));
  EXPECT_FALSE(parse_ranking("[1]", 4));
  EXPECT_FALSE(parse_ranking("", 2));
  EXPECT_EQ(parse_ranking("anything", 1), (V{0}));
}

TEST(ParseStepLabels, Shapes) {
  EXPECT_EQ(parse_step_labels("Step 1: correct\nStep 2: incorrect\nStep 3: correct", 3), (V{1, 0, 1}));
  EXPECT_EQ(parse_step_labels("step 2 - Wrong (12 + 5 = 18 is false)\nstep 1 - right", 2), (V{1, 0}));
  EXPECT_EQ(parse_step_labels("Step #1: \xE2\x9C\x93\nStep #2: \xE2\x9C\x97", 2), (V{1, 0}));
  EXPECT_EQ(parse_step_labels("Step 1: not correct\nStep 2: valid", 2), (V{0, 1}));
  EXPECT_EQ(parse_step_labels("[1, 1, 0]", 3), (V{1, 1, 0}));
}

TEST(ParseStepLabels, IncompleteOrContradictoryRepliesAreRejected) {
  EXPECT_FALSE(parse_step_labels("Step 1: correct", 2));
  EXPECT_FALSE(parse_step_labels("Step 1: correct\nStep 1: incorrect", 1));
  EXPECT_FALSE(parse_step_labels("I cannot judge these steps.", 2));
  EXPECT_FALSE(parse_step_labels("[1, 0]", 3));
}

TEST(ParseEqual, Judgements) {
  EXPECT_EQ(parse_equal("Equal"), true);
  EXPECT_EQ(parse_equal("Not Equal."), false);
  EXPECT_EQ(parse_equal("They are not equal"), false);
  EXPECT_EQ(parse_equal("The two are the same."), true);
  EXPECT_FALSE(parse_equal("Hmm."));
}

TEST(Elimination, Rule4CopiedTemplateWords) {
  EXPECT_EQ(check_instruction("#Rewritten Prompt#:\nAva has 3 apples."), reason::kCopiedTemplate);
  EXPECT_EQ(check_instruction("Rewrite the given prompt so that..."), reason::kCopiedTemplate);
  EXPECT_EQ(check_instruction("In the created prompt, Ava..."), reason::kCopiedTemplate);
  EXPECT_EQ(check_instruction("   \n"), reason::kEmptyInstruction);
  EXPECT_FALSE(check_instruction("Ava has 3 apples and buys 4 more. How many?"));
}

TEST(Elimination, Rules2And3AndTheMathAnswerFilter) {
  EliminationOptions o;
  EXPECT_EQ(check_response("I'm sorry, but I can't help with that.", o), reason::kSorryShort);
  // "sorry" in a long answer is fine (rule 2 needs both).
  std::string long_answer = "Sorry for the long wait.";
  for (int i = 0; i < 80; ++i) long_answer += " word";
  long_answer += "\nThe answer is: 4";
  EXPECT_FALSE(check_response(long_answer, o));
  EXPECT_EQ(check_response("It is what it is.", o), reason::kStopWordsOnly);
  EXPECT_EQ(check_response("... !!", o), reason::kStopWordsOnly);
  EXPECT_EQ(check_response("", o), reason::kStopWordsOnly);
  EXPECT_EQ(check_response("Ava has 3 + 4 = 7 apples.", o), reason::kNoFinalAnswer);
  EXPECT_EQ(check_response("Ava has apples.\nThe answer is: seven", o), reason::kUnparseableAnswer);
  EXPECT_FALSE(check_response("Ava has 3 + 4 = 7 apples.\nThe answer is: 7", o));
  o.numeric_answer = false;
  EXPECT_FALSE(check_response("Ava has apples.\nThe answer is: seven", o));
  o.require_answer = false;
  EXPECT_FALSE(check_response("Ava has 3 + 4 = 7 apples.", o));
}

TEST(Elimination, StopWords) {
  EXPECT_TRUE(only_stop_words("the of and; but, it's!"));
  EXPECT_FALSE(only_stop_words("the answer"));
  EXPECT_FALSE(only_stop_words("it is 5"));
  EXPECT_EQ(word_count("  a b\nc  "), 3);
}

}  // namespace
}  // namespace rleif::evol
