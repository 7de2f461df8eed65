// Parity with the Hugging Face `tokenizers` library: the ids for every GSM8K train question and
// answer (plus extra texts: emoji, CJK, accents, tabs, newlines, runs of spaces, special tokens in
// the text) through the shared GPT-2 tokenizer.json and through tokenizers the fixture builds with
// the library (Llama 2 SentencePiece-style BPE with byte fallback, its Metaspace variants, Llama 3
// byte-level with ignore_merges and added tokens, Qwen2 byte-level with NFC, and two "misc" ones for
// the remaining stage options: Digits, every split behaviour, NFKC, regex Replace, ByteLevel with
// add_prefix_space, Metaspace "never", Bert/Roberta processors). Expected values come
// from scripts/fixtures/tokenizer_fixtures.py (Tokenizer.from_file(...).encode_batch / decode).
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "core/fs.h"
#include "core/jsonl.h"
#include "model/tokenizer.h"
#include "tests/test_util.h"

namespace rleif {
namespace {

using Ids = std::vector<int32_t>;

std::string fixture_path(const std::string& name) { return test::fixtures_dir() + "/tokenizer/" + name; }

struct Texts {
  std::vector<std::string> all;
  size_t gsm8k = 0;
  json manifest;
};

const Texts& texts() {
  static const Texts t = [] {
    Texts r;
    r.manifest = json::parse(read_file(fixture_path("manifest.json")));
    for (const json& row : read_jsonl(fixture_path("texts.jsonl"))) r.all.push_back(row.at("text").get<std::string>());
    r.gsm8k = r.manifest.at("gsm8k_texts").get<size_t>();
    return r;
  }();
  return t;
}

std::string show(const Ids& ids) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < ids.size(); ++i) os << (i ? ", " : "") << ids[i];
  return os.str() + "]";
}

// The text as a JSON string literal (escapes newlines and control characters), cut to 400 bytes.
std::string quote(const std::string& s) {
  std::string q = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  return q.size() > 400 ? q.substr(0, 400) + "...(" + std::to_string(s.size()) + " bytes)" : q;
}

const json& entry(const std::string& name) {
  for (const json& e : texts().manifest.at("tokenizers"))
    if (e.at("name") == name) return e;
  throw Error("tokenizer fixture has no entry '" + name + "'");
}

class TokenizerParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    RLEIF_REQUIRE_PATH(fixture_path("manifest.json"));
    path_ = entry(GetParam()).at("tokenizer").get<std::string>();
    RLEIF_REQUIRE_PATH(path_);
  }
  std::string path_;
};

TEST_P(TokenizerParity, EncodeMatchesTokenizersLibraryOnEveryText) {
  const Texts& t = texts();
  Tokenizer tok = Tokenizer::from_file(path_);
  std::vector<Ids> plain, special;
  for (const json& row : read_jsonl(fixture_path(GetParam() + ".ids.jsonl"))) {
    plain.push_back(row.at("ids").get<Ids>());
    special.push_back(row.at("ids_special").get<Ids>());
  }
  ASSERT_EQ(plain.size(), t.all.size()) << "fixture ids and texts differ in length; rerun the tokenizer fixture";

  // add_special_tokens = false one text at a time; true through encode_batch on 4 threads.
  std::vector<Ids> batch = tok.encode_batch(t.all, true, 4);
  size_t bad_plain = 0, bad_special = 0;
  for (size_t i = 0; i < t.all.size(); ++i) {
    Ids got = tok.encode(t.all[i], false);
    if (got != plain[i] && bad_plain++ == 0)
      ADD_FAILURE() << GetParam() << " text #" << i << " " << quote(t.all[i]) << "\n  tokenizers: " << show(plain[i])
                    << "\n  rleif:      " << show(got);
    if (batch[i] != special[i] && bad_special++ == 0)
      ADD_FAILURE() << GetParam() << " (add_special_tokens) text #" << i << " " << quote(t.all[i])
                    << "\n  tokenizers: " << show(special[i]) << "\n  rleif:      " << show(batch[i]);
  }
  EXPECT_EQ(bad_plain, 0u) << "texts whose ids differ (of " << t.all.size() << ")";
  EXPECT_EQ(bad_special, 0u) << "texts whose ids with special tokens differ (of " << t.all.size() << ")";
}

TEST_P(TokenizerParity, DecodeMatchesTokenizersLibrary) {
  Tokenizer tok = Tokenizer::from_file(path_);
  size_t n = 0, bad = 0;
  for (const json& row : read_jsonl(fixture_path(GetParam() + ".decode.jsonl"))) {
    Ids ids = row.at("ids").get<Ids>();
    bool skip = row.at("skip").get<bool>();
    std::string want = row.at("text").get<std::string>(), got = tok.decode(ids, skip);
    ++n;
    if (got != want && bad++ == 0)
      ADD_FAILURE() << GetParam() << " decode(" << show(ids) << ", skip_special_tokens=" << skip
                    << ")\n  tokenizers: " << quote(want) << "\n  rleif:      " << quote(got);
  }
  EXPECT_GT(n, 300u);
  EXPECT_EQ(bad, 0u) << "decodes that differ (of " << n << ")";
}

// decode(encode(x)) == x on GSM8K, for the tokenizers that are lossless (kRoundTrip); the others
// are lossy by design (<unk>, digits replaced, or no leading space) and are not instantiated here.
const std::vector<std::string> kRoundTrip = {"gpt2", "spm_bpe", "spm_metaspace", "llama3", "qwen2_nfc"};
class TokenizerRoundTrip : public TokenizerParity {};

TEST_P(TokenizerRoundTrip, DecodeOfEncodeRoundTripsGsm8k) {
  ASSERT_TRUE(entry(GetParam()).at("roundtrip").get<bool>())
      << GetParam() << ": the fixture manifest says it does not round-trip; update kRoundTrip";
  const Texts& t = texts();
  Tokenizer tok = Tokenizer::from_file(path_);
  size_t bad = 0;
  for (size_t i = 0; i < t.gsm8k; ++i) {
    const std::string& x = t.all[i];
    std::string plain = tok.decode(tok.encode(x, false), false);
    std::string skipped = tok.decode(tok.encode(x, true), true);
    if ((plain != x || skipped != x) && bad++ == 0)
      ADD_FAILURE() << GetParam() << " text #" << i << " " << quote(x) << "\n  decode(encode(x)):  " << quote(plain)
                    << "\n  with specials skipped: " << quote(skipped);
  }
  EXPECT_EQ(bad, 0u);
}

TEST_P(TokenizerParity, VocabSizeMatches) {
  Tokenizer tok = Tokenizer::from_file(path_);
  EXPECT_EQ(tok.vocab_size(), entry(GetParam()).at("vocab_size").get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerParity,
                         ::testing::Values("gpt2", "spm_bpe", "spm_metaspace", "metaspace_unk", "llama3", "qwen2_nfc",
                                           "misc_byte_level", "misc_metaspace"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerRoundTrip, ::testing::ValuesIn(kRoundTrip),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// kRoundTrip lists every tokenizer the fixture manifest marks as lossless.
TEST(TokenizerParityData, RoundTripListMatchesTheManifest) {
  RLEIF_REQUIRE_PATH(fixture_path("manifest.json"));
  std::set<std::string> want, got(kRoundTrip.begin(), kRoundTrip.end());
  for (const json& e : texts().manifest.at("tokenizers"))
    if (e.at("roundtrip").get<bool>()) want.insert(e.at("name").get<std::string>());
  EXPECT_EQ(got, want);
}

// The fixture's texts are exactly GSM8K train's questions and answers, all of them, in order.
TEST(TokenizerParityData, FixtureCoversEveryGsm8kTrainRecord) {
  std::string train = test::shared_dir() + "/data/gsm8k/train.jsonl";
  RLEIF_REQUIRE_PATH(train);
  RLEIF_REQUIRE_PATH(fixture_path("manifest.json"));
  std::vector<json> records = read_jsonl(train);
  EXPECT_EQ(records.size(), 7473u);
  const Texts& t = texts();
  ASSERT_EQ(t.gsm8k, records.size() * 2);
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(t.all[2 * i], records[i].at("question").get<std::string>()) << "record " << i;
    ASSERT_EQ(t.all[2 * i + 1], records[i].at("answer").get<std::string>()) << "record " << i;
  }
}

}  // namespace
}  // namespace rleif
