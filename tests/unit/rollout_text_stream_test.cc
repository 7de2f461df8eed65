// Streaming text: stop strings found across deltas and tokens, held-back prefixes, and incremental
// detokenisation that equals one full decode (real GPT-2 byte-level tokenizer from shared/).
#include <gtest/gtest.h>

#include "rollout/text_stream.h"
#include "tests/test_util.h"

namespace rleif::rollout {
namespace {

TEST(StopMatcher, FindsStopAcrossDeltasAndHoldsBackPrefixes) {
  StopMatcher m({"o w"});
  EXPECT_EQ(m.feed("Hel"), "Hel");
  EXPECT_EQ(m.feed("lo"), "l");  // "o" could start "o w": held back
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.feed(" wo"), "");  // completes the stop string
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.feed("rld"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, ReleasesHeldTextWhenTheMatchFails) {
  StopMatcher m({"bc"});
  EXPECT_EQ(m.feed("ab"), "a");
  EXPECT_EQ(m.feed("d"), "bd");
  EXPECT_EQ(m.feed("xb"), "x");
  EXPECT_EQ(m.flush(), "b");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"later", "\n\n", "ter"});
  EXPECT_EQ(m.feed("a\n"), "a");
  EXPECT_EQ(m.feed("\nlater"), "");
  EXPECT_TRUE(m.stopped());
  StopMatcher n({"later", "ter"});
  EXPECT_EQ(n.feed("xlater"), "x");  // "later" starts before "ter"
}

TEST(StopMatcher, WithoutStopsPassesEverythingThrough) {
  StopMatcher m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.feed("abc"), "abc");
  EXPECT_EQ(m.flush(), "");
}

TEST(Utf8, IncompleteTailsAreDetected) {
  EXPECT_FALSE(ends_incomplete_utf8("abc"));
  EXPECT_FALSE(ends_incomplete_utf8("caf\xC3\xA9"));
  EXPECT_TRUE(ends_incomplete_utf8("caf\xC3"));
  EXPECT_TRUE(ends_incomplete_utf8("\xF0\x9F\x99"));
  EXPECT_FALSE(ends_incomplete_utf8("\xF0\x9F\x99\x82"));
  EXPECT_TRUE(ends_incomplete_utf8("x\xEF\xBF\xBD"));
}

class DetokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = test::shared_dir() + "/models/gpt2-tokenizer/tokenizer.json";
    RLEIF_REQUIRE_PATH(path_);
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file(path_));
  }
  std::string path_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(DetokenizerTest, DeltasConcatenateToTheFullDecode) {
  const std::string prompt = "Question: what is";
  const std::string gen = " 12 + 30? Café, naïve 日本語 🙂🙂 and\n\n  spaces<|endoftext|> tail";
  auto p = tok_->encode(prompt, false);
  auto g = tok_->encode(gen, false);
  ASSERT_GT(g.size(), 10u);
  Detokenizer d(tok_.get(), p);
  std::string text;
  for (int32_t id : g) {
    std::string delta = d.push(id);
    EXPECT_FALSE(ends_incomplete_utf8(delta)) << "partial character emitted for id " << id;
    text += delta;
  }
  text += d.flush();
  EXPECT_EQ(text, tok_->decode(g, /*skip_special_tokens=*/true));
}

TEST_F(DetokenizerTest, StopStringSpanningTokensTruncatesTheText) {
  const std::string gen = "Step 1: 3 + 4 = 7\nThe answer is: 7\n\nQuestion: next one";
  auto g = tok_->encode(gen, false);
  Detokenizer d(tok_.get(), tok_->encode("A:", false));
  StopMatcher m({"answer is: 7\n\nQues"});  // spans several tokens
  std::string text;
  size_t consumed = 0;
  for (int32_t id : g) {
    ++consumed;
    text += m.feed(d.push(id));
    if (m.stopped()) break;
  }
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(text, "Step 1: 3 + 4 = 7\nThe ");
  EXPECT_LT(consumed, g.size());  // stopped at the token that completed the match
}

}  // namespace
}  // namespace rleif::rollout
