// evol/prompts: the built-in templates match the Apache-2.0 originals in shared/data/evol; placeholder
// validation; overrides from a directory; reading a filled prompt back.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "evol/prompts.h"
#include "tests/test_util.h"

namespace rleif::evol {
namespace {

std::string without_trailing_newlines(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

TEST(Prompts, BuiltinEvolInstructTemplatesAreVerbatim) {
  const std::string dir = test::shared_dir() + "/data/evol";
  RLEIF_REQUIRE_PATH(dir);
  Prompts p = Prompts::load("");
  const std::pair<EvolOp, const char*> files[] = {
      {EvolOp::add_constraints, "depth_add_constraints.txt"},
      {EvolOp::deepening, "depth_deepening.txt"},
      {EvolOp::concretizing, "depth_concretizing.txt"},
      {EvolOp::increase_reasoning, "depth_increase_reasoning_steps.txt"},
      {EvolOp::breadth, "breadth_mutation.txt"},
  };
  for (auto& [op, file] : files)
    EXPECT_EQ(p.evolve[static_cast<int>(op)].text(), without_trailing_newlines(read_file(dir + "/" + file))) << file;
  // WizardMath's CoT prompt, as in wizardmath_prompts.txt (there with escaped newlines).
  std::string wm = read_file(dir + "/wizardmath_prompts.txt");
  std::string expected = p.answer.text();
  std::string escaped;
  for (char c : expected) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
  EXPECT_NE(wm.find("\"" + escaped + "\""), std::string::npos) << escaped;
}

TEST(Prompts, FillAndMatchRoundTrip) {
  Prompts p = Prompts::load("");
  Messages m = p.evolve_messages(EvolOp::downward, "Ava has 3 apples.\nHow many?");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].role, "system");
  auto back = p.evolve[static_cast<int>(EvolOp::downward)].match(m[1].content);
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)["instruction"], "Ava has 3 apples.\nHow many?");
  // Another op's template does not match this prompt.
  EXPECT_FALSE(p.evolve[static_cast<int>(EvolOp::add_constraints)].match(m[1].content));

  Messages r = p.rank_messages("orig", {"first one", "second one"});
  auto rb = p.rank.match(r[1].content);
  ASSERT_TRUE(rb);
  EXPECT_EQ((*rb)["candidates"], "[1] first one\n[2] second one");
  EXPECT_EQ((*rb)["n"], "2");

  Messages j = p.judge_messages("Q?", {"a = 1", "The answer is: 1"});
  auto jb = p.judge_steps.match(j[1].content);
  ASSERT_TRUE(jb);
  EXPECT_EQ((*jb)["steps"], "Step 1: a = 1\nStep 2: The answer is: 1");
  EXPECT_EQ((*jb)["question"], "Q?");
}

TEST(Prompts, BracesEscapeAndUnknownPlaceholdersAreErrors) {
  PromptTemplate t("JSON like {{\"a\": 1}} for {instruction}", {"instruction"}, {"instruction"}, "test");
  EXPECT_EQ(t.fill({{"instruction", "x"}}), "JSON like {\"a\": 1} for x");
  try {
    PromptTemplate bad("Rewrite {instrution}", {"instruction"}, {"instruction"}, "prompts/downward.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("prompts/downward.txt"), std::string::npos) << m;
    EXPECT_NE(m.find("unknown placeholder {instrution}"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean {instruction}"), std::string::npos) << m;
  }
  try {
    PromptTemplate missing("Rewrite it", {"instruction"}, {"instruction"}, "prompts/answer.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no {instruction} placeholder"), std::string::npos) << e.what();
  }
}

TEST(Prompts, DirectoryOverridesAreValidated) {
  std::string dir = test::temp_dir("evol_prompts");
  write_file_atomic(dir + "/answer.txt", "Solve: {instruction}\n");
  Prompts p = Prompts::load(dir);
  EXPECT_EQ(p.answer_messages("2+2?")[1].content, "Solve: 2+2?");
  write_file_atomic(dir + "/rank.txt", "Rank {candidates} by {quality}");
  try {
    Prompts::load(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(dir + "/rank.txt"), std::string::npos) << m;
    EXPECT_NE(m.find("{quality}"), std::string::npos) << m;
  }
  std::remove((dir + "/rank.txt").c_str());
  write_file_atomic(dir + "/answr.txt", "{instruction}");
  try {
    Prompts::load(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'answer.txt'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rleif::evol
