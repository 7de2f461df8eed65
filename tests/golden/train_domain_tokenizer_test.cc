// The math domain's tokenizer (train/domain_tokenizer.h), learned on synthetic problems: rleif's
// Tokenizer and the Python `tokenizers` / transformers libraries (scripts/fixtures/train_tokenize.py)
// give the same ids; digits are single tokens; frequent words are single tokens; decode round-trips.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "evol/math_domain.h"
#include "model/tokenizer.h"
#include "tests/test_util.h"
#include "train/domain_tokenizer.h"
#include "train/sft_data.h"

namespace rleif::train {
namespace {

class DomainTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::temp_dir("domtok"));
    problems_ = new std::vector<evol::MathProblem>(evol::generate_problems(400, 11, 1, 5));
    std::vector<std::string> corpus;
    for (auto& p : *problems_) {
      corpus.push_back(render_prompt(PromptTemplate::alpaca, p.question));
      corpus.push_back(p.solution);
    }
    write_file_atomic(*dir_ + "/tokenizer.json", build_domain_tokenizer(corpus, {}).dump(2));
    write_file_atomic(*dir_ + "/tokenizer_config.json", domain_tokenizer_config().dump(2));
  }
  static std::string* dir_;
  static std::vector<evol::MathProblem>* problems_;
};
std::string* DomainTokenizer::dir_ = nullptr;
std::vector<evol::MathProblem>* DomainTokenizer::problems_ = nullptr;

TEST_F(DomainTokenizer, PretokenizerSplitsDigitsAndKeepsWordsWithTheirSpace) {
  EXPECT_EQ(domain_pretokenize("Ava's 123 cookies cost $45.\nThe answer is: 7"),
            (std::vector<std::string>{"Ava", "'s", " ", "1", "2", "3", " cookies", " cost", " $", "4", "5", ".", "\n",
                                      "The", " answer", " is", ":", " ", "7"}));
  EXPECT_EQ(domain_pretokenize("a  b\n\n### x "), (std::vector<std::string>{"a", " ", " b", "\n", "\n", "###", " x", " "}));
}

TEST_F(DomainTokenizer, DigitsAreSingleTokensAndWordsAreWhole) {
  auto tok = Tokenizer::from_file(*dir_ + "/tokenizer.json");
  EXPECT_LE(tok.vocab_size(), 1024);
  EXPECT_EQ(tok.bos_id(), std::optional<int32_t>(1));
  EXPECT_EQ(tok.eos_id(), std::optional<int32_t>(2));
  auto ids = tok.encode("The answer is: 9078", false);
  std::vector<std::string> pieces;
  for (auto id : ids) pieces.push_back(tok.id_to_token(id));
  EXPECT_EQ(pieces, (std::vector<std::string>{"The", "Ġanswer", "Ġis", ":", "Ġ", "9", "0", "7", "8"}));
  // A whole problem costs about one token per word and one per digit.
  const auto& p = (*problems_)[0];
  const std::string text = p.question + "\n" + p.solution;
  EXPECT_LT(tok.encode(text, false).size(), text.size() / 3);
}

TEST_F(DomainTokenizer, MatchesTheTokenizersLibrary) {
  std::vector<std::string> texts;
  for (size_t i = 0; i < 60; ++i) {
    texts.push_back(render_prompt(PromptTemplate::alpaca, (*problems_)[i].question));
    texts.push_back((*problems_)[i].solution);
  }
  texts.push_back("Unseen words: zebra quokka 3.14159, -42 and 1,000!  Tabs\tand\n\nnewlines ");
  texts.push_back("caf\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x98\x80");  // multi-byte characters fall back to bytes
  const std::string texts_path = *dir_ + "/texts.json", out = *dir_ + "/ref.json";
  write_file_atomic(texts_path, json(texts).dump());
  auto r = test::run_command({test::python_bin(), test::source_dir() + "/scripts/fixtures/train_tokenize.py", "--dir",
                              *dir_, "--texts", texts_path, "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json ref = json::parse(read_file(out));
  auto tok = Tokenizer::from_file(*dir_ + "/tokenizer.json");
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = tok.encode(texts[i], true);
    std::vector<int32_t> want = ref[i]["tokenizers"].get<std::vector<int32_t>>();
    EXPECT_EQ(ids, want) << "text " << i << ": " << texts[i];
    EXPECT_EQ(ref[i]["transformers"].get<std::vector<int32_t>>(), want) << "transformers disagrees on text " << i;
    EXPECT_EQ(tok.decode(ids, true), ref[i]["decoded"].get<std::string>()) << "text " << i;
    EXPECT_EQ(tok.decode(ids, true), texts[i]) << "text " << i;
  }
}

}  // namespace
}  // namespace rleif::train
