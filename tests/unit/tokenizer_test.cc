// Tokenizer behaviour on small hand-written tokenizer.json files (ids worked out by hand from the
// tokenizers library's rules), decode round trips, threads, and one test per malformed-file error.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "model/tokenizer.h"
#include "model/tokenizer_parts.h"
#include "tests/test_util.h"

namespace rleif {
namespace {

using Ids = std::vector<int32_t>;

json bpe_json(json vocab, json merges, json model_extra = json::object()) {
  json model = {{"type", "BPE"}, {"dropout", nullptr}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}};
  model.update(model_extra);
  return {{"version", "1.0"}, {"added_tokens", json::array()}, {"normalizer", nullptr}, {"pre_tokenizer", nullptr},
          {"post_processor", nullptr}, {"decoder", nullptr}, {"model", model}};
}

json added(int id, const std::string& content, bool special, json extra = json::object()) {
  json t = {{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
            {"normalized", !special}, {"special", special}};
  t.update(extra);
  return t;
}

// Vocab of the given tokens with ids in order.
json vocab_of(const std::vector<std::string>& tokens) {
  json v = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) v[tokens[i]] = static_cast<int>(i);
  return v;
}

// A Llama 2 style tokenizer: <unk> <s> </s>, the 256 byte tokens, then pieces; Prepend/Replace
// normalizer, byte-fallback decoder, <s> template.
json spm_json(bool byte_tokens = true) {
  std::vector<std::string> names = {"<unk>", "<s>", "</s>"};
  if (byte_tokens)
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      names.push_back(buf);
    }
  for (const char* p : {"\u2581", "a", "b", "\u2581a", "\u2581ab"}) names.push_back(p);
  json j = bpe_json(vocab_of(names), json::array({"\u2581 a", "\u2581a b"}),
                    {{"unk_token", "<unk>"}, {"byte_fallback", byte_tokens}, {"fuse_unk", true}});
  j["added_tokens"] = {added(0, "<unk>", true), added(1, "<s>", true), added(2, "</s>", true)};
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                     {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"pair", json::array()},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  return j;
}

int32_t id_of(const Tokenizer& t, const std::string& token) {
  auto id = t.token_to_id(token);
  if (!id) throw Error("no token " + token);
  return *id;
}

// ---- BPE model --------------------------------------------------------------------------------

TEST(TokenizerBpe, MergesApplyByRankNotByPosition) {
  json vocab = vocab_of({"a", "b", "c", "ab", "bc"});
  // "b c" ranks first, so "abc" -> a + bc even though "a b" is leftmost.
  Tokenizer t1 = Tokenizer::from_json(bpe_json(vocab, {"b c", "a b"}), "t1");
  EXPECT_EQ(t1.encode("abc"), (Ids{0, 4}));
  Tokenizer t2 = Tokenizer::from_json(bpe_json(vocab, {"a b", "b c"}), "t2");
  EXPECT_EQ(t2.encode("abc"), (Ids{3, 2}));
  // Equal pairs merge left to right: "aaa" with only "a a" -> aa + a.
  Tokenizer t3 = Tokenizer::from_json(bpe_json(vocab_of({"a", "aa"}), {"a a"}), "t3");
  EXPECT_EQ(t3.encode("aaaaa"), (Ids{1, 1, 0}));
}

TEST(TokenizerBpe, MergesAsStringsOrPairsAreTheSame) {
  json vocab = vocab_of({"h", "e", "l", "o", "he", "ll", "hell", "hello"});
  Tokenizer s = Tokenizer::from_json(bpe_json(vocab, {"#version: 0.2", "h e", "l l", "he ll", "hell o"}), "s");
  Tokenizer p = Tokenizer::from_json(
      bpe_json(vocab, json::array({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}})), "p");
  EXPECT_EQ(s.encode("hello"), (Ids{7}));
  EXPECT_EQ(p.encode("hello"), (Ids{7}));
  EXPECT_EQ(s.encode("olleh"), p.encode("olleh"));
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWordsFromTheVocab) {
  // "abc" is in the vocab but no merge makes it.
  json vocab = vocab_of({"a", "b", "c", "ab", "abc"});
  Tokenizer plain = Tokenizer::from_json(bpe_json(vocab, {"a b"}), "plain");
  Tokenizer ignore = Tokenizer::from_json(bpe_json(vocab, {"a b"}, {{"ignore_merges", true}}), "ignore");
  EXPECT_EQ(plain.encode("abc"), (Ids{3, 2}));
  EXPECT_EQ(ignore.encode("abc"), (Ids{4}));
  EXPECT_EQ(ignore.encode("abcab"), (Ids{3, 2, 3}));  // not in the vocab: merges as usual
}

TEST(TokenizerBpe, ByteFallbackThenUnknownFusion) {
  Tokenizer t = Tokenizer::from_json(spm_json(true), "spm");
  // "é" is not a piece: its UTF-8 bytes C3 A9 become <0xC3> <0xA9>.
  EXPECT_EQ(t.encode("\xC3\xA9", false), (Ids{id_of(t, "\u2581"), id_of(t, "<0xC3>"), id_of(t, "<0xA9>")}));
  // Without byte tokens, consecutive unknown characters fuse into one <unk> (fuse_unk).
  Tokenizer u = Tokenizer::from_json(spm_json(false), "spm-unk");
  EXPECT_EQ(u.encode("a\xC3\xA9\xC3\xA9", false), (Ids{id_of(u, "\u2581a"), 0}));
  json nofuse = spm_json(false);
  nofuse["model"]["fuse_unk"] = false;
  EXPECT_EQ(Tokenizer::from_json(nofuse, "nofuse").encode("a\xC3\xA9\xC3\xA9", false), (Ids{id_of(u, "\u2581a"), 0, 0}));
}

TEST(TokenizerBpe, ContinuingSubwordPrefixAndEndOfWordSuffix) {
  Tokenizer p = Tokenizer::from_json(
      bpe_json(vocab_of({"a", "##b", "ab", "##c"}), {"a ##b"}, {{"continuing_subword_prefix", "##"}}), "p");
  EXPECT_EQ(p.encode("abc"), (Ids{2, 3}));
  Tokenizer s = Tokenizer::from_json(
      bpe_json(vocab_of({"a", "b</w>", "ab</w>", "b"}), {"a b</w>"}, {{"end_of_word_suffix", "</w>"}}), "s");
  EXPECT_EQ(s.encode("ab"), (Ids{2}));
  EXPECT_EQ(s.encode("ba"), (Ids{3}));  // "a</w>" is not in the vocab and there is no unk: dropped
}

// ---- Added tokens, post-processing, decoding ----------------------------------------------------

TEST(TokenizerAddedTokens, LongestMatchFirstAndSplitBeforeTheModel) {
  json j = bpe_json(vocab_of({"a", "b", "ab"}), {"a b"});
  j["added_tokens"] = {added(3, "<x>", true), added(4, "<x>y", true), added(5, "b<", false, {{"normalized", false}})};
  Tokenizer t = Tokenizer::from_json(j, "added");
  EXPECT_EQ(t.encode("a<x>yab"), (Ids{0, 4, 2}));     // "<x>y" beats "<x>"
  // Leftmost first: "b<" starts before "<x>", so the text splits as a | b< | x> (x and > are not
  // in the vocab and there is no unk_token: dropped, as tokenizers does).
  EXPECT_EQ(t.encode("ab<x>"), (Ids{0, 5}));
  EXPECT_TRUE(t.is_special(3));
  EXPECT_FALSE(t.is_special(5));
  EXPECT_FALSE(t.is_special(0));
  EXPECT_EQ(t.vocab_size(), 6);
}

TEST(TokenizerAddedTokens, LstripRstripAndSingleWord) {
  json j = bpe_json(vocab_of({"a", "b", " "}), json::array());
  j["added_tokens"] = {added(3, "<m>", true, {{"lstrip", true}}), added(4, "<r>", true, {{"rstrip", true}}),
                       added(5, "ab", false, {{"single_word", true}})};
  Tokenizer t = Tokenizer::from_json(j, "strip");
  EXPECT_EQ(t.encode("a  <m>b"), (Ids{0, 3, 1}));           // spaces before <m> are part of it
  EXPECT_EQ(t.encode("a<r> \t b"), (Ids{0, 4, 1}));         // spaces (any White_Space) after <r> too
  EXPECT_EQ(t.encode("a ab b"), (Ids{0, 2, 5, 2, 1}));      // "ab" stands alone: matched
  EXPECT_EQ(t.encode("aab b"), (Ids{0, 0, 1, 2, 1}));       // "ab" inside a word: not matched
  EXPECT_EQ(t.encode("ab\xCC\x81"), (Ids{0, 1}));           // followed by a combining mark (a word char)
}

TEST(TokenizerAddedTokens, DecodeSkipsOnlySpecialTokensWhenAsked) {
  json j = bpe_json(vocab_of({"a", "b"}), json::array());
  j["added_tokens"] = {added(2, "<s>", true), added(3, "[T]", false)};
  Tokenizer t = Tokenizer::from_json(j, "skip");
  Ids ids = t.encode("<s>a[T]b");
  EXPECT_EQ(ids, (Ids{2, 0, 3, 1}));
  EXPECT_EQ(t.decode(ids), "<s> a [T] b");  // no decoder: tokens joined by spaces, as tokenizers
  EXPECT_EQ(t.decode(ids, true), "a [T] b");
  EXPECT_EQ(t.decode({0, 99, -1, 1}), "a b");  // ids no token has are skipped
  EXPECT_EQ(t.id_to_token(3), "[T]");
  EXPECT_EQ(t.id_to_token(99), "");
}

TEST(TokenizerPostProcessor, TemplateAddsBosAndEos) {
  json j = spm_json();
  j["post_processor"]["single"].push_back({{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}});
  j["post_processor"]["special_tokens"]["</s>"] = {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}};
  Tokenizer t = Tokenizer::from_json(j, "template");
  Ids plain = t.encode("ab", false);
  Ids with = t.encode("ab", true);
  ASSERT_EQ(with.size(), plain.size() + 2);
  EXPECT_EQ(with.front(), 1);
  EXPECT_EQ(with.back(), 2);
  EXPECT_EQ(Ids(with.begin() + 1, with.end() - 1), plain);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.encode("", true), (Ids{1, 2}));
}

TEST(TokenizerPostProcessor, RobertaAndWellKnownNames) {
  json j = bpe_json(vocab_of({"a", "<s>", "</s>"}), json::array());
  j["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", {"</s>", 2}}, {"cls", {"<s>", 1}}};
  Tokenizer r = Tokenizer::from_json(j, "roberta");
  EXPECT_EQ(r.encode("a"), (Ids{1, 0, 2}));
  json g = bpe_json(vocab_of({"a"}), json::array());
  g["added_tokens"] = json::array({added(1, "<|endoftext|>", true)});  // one element: {x} would copy x under clang
  g["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}};
  Tokenizer gpt = Tokenizer::from_json(g, "gpt2-like");
  EXPECT_EQ(gpt.encode("a"), (Ids{0}));
  EXPECT_EQ(gpt.bos_id(), 1);
  EXPECT_EQ(gpt.eos_id(), 1);
}

TEST(TokenizerDecode, SentencePieceStyleRoundTrips) {
  Tokenizer t = Tokenizer::from_json(spm_json(), "spm");
  for (const char* x : {"ab a b", " leading", "trailing  ", "caf\xC3\xA9 \xF0\x9F\xA6\x99\ttab\nnewline", ""}) {
    EXPECT_EQ(t.decode(t.encode(x, false)), x);
    EXPECT_EQ(t.decode(t.encode(x, true), true), x);
  }
  // A byte run that is not UTF-8 decodes to one U+FFFD per byte (ByteFallback).
  EXPECT_EQ(t.decode({id_of(t, "<0xC3>"), id_of(t, "a")}), "\xEF\xBF\xBD" "a");
}

TEST(TokenizerDecode, Gpt2RoundTripsAndBatchesOnThreads) {
  std::string path = test::shared_dir() + "/models/gpt2-tokenizer/tokenizer.json";
  RLEIF_REQUIRE_PATH(path);
  Tokenizer t = Tokenizer::from_file(path);
  std::vector<std::string> texts = {"Hello world", "  two spaces", "tabs\t\tand\nnewlines\r\n",
                                    "\xE6\x95\xB0\xE5\xAD\xA6 \xF0\x9F\x98\x80 caf\xC3\xA9", "it's 12.5%!",
                                    "<|endoftext|>after", ""};
  for (int k = 0; k < 200; ++k) texts.push_back("record " + std::to_string(k) + " costs $" + std::to_string(k * 7));
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(t.decode(t.encode(texts[i])), texts[i]);
  EXPECT_EQ(t.decode(t.encode("<|endoftext|>after"), true), "after");
  std::vector<Ids> one;
  for (const auto& x : texts) one.push_back(t.encode(x));
  for (int threads : {0, 1, 2, 8}) EXPECT_EQ(t.encode_batch(texts, true, threads), one) << threads << " threads";
  EXPECT_EQ(t.vocab_size(), 50295);
  EXPECT_EQ(t.eos_id(), 50256);
}

TEST(TokenizerText, InvalidUtf8IsAnError) {
  Tokenizer t = Tokenizer::from_json(bpe_json(vocab_of({"a"}), json::array()), "utf8.json");
  for (const char* bad : {"a\xFF", "\xC0\x80", "\xED\xA0\x80", "\xE2\x82"}) {
    try {
      t.encode(bad);
      ADD_FAILURE() << "no error for invalid UTF-8";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
    }
  }
  std::vector<std::string> batch(100, "a");
  batch[57] = "\xFF";
  EXPECT_THROW(t.encode_batch(batch, true, 4), Error);
}

// Rust's String::from_utf8_lossy: one U+FFFD per maximal invalid subsequence.
TEST(TokenizerText, LossyUtf8FollowsRust) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(tok::utf8_lossy("Hello\xF0\x90\x80World"), "Hello" + r + "World");
  EXPECT_EQ(tok::utf8_lossy("\xC0\x80"), r + r);
  EXPECT_EQ(tok::utf8_lossy("\xE2\x82"), r);
  EXPECT_EQ(tok::utf8_lossy("\xED\xA0\x80"), r + r + r);
  EXPECT_EQ(tok::utf8_lossy("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
}

// \s means Unicode White_Space, as in Oniguruma: U+0085 is a space, U+180E is not (PCRE2 alone
// would count it). Expected ids computed with tokenizers 0.23 on the same vocab and patterns.
TEST(TokenizerText, RegexWhitespaceIsOniguruma) {
  const std::string mvs = "\xE1\xA0\x8E", nel = "\xC2\x85";  // U+180E, U+0085
  for (const char* pattern : {R"(\s+|\S+)", R"(\s+|[^\s]+)", R"([\s]+|[^\s]+)"}) {
    json j = bpe_json({{mvs, 0}, {"!", 1}, {mvs + "!", 2}, {" ", 3}, {nel, 4}, {nel + "!", 5}},
                      json::array({{mvs, "!"}, {nel, "!"}}));
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
    Tokenizer t = Tokenizer::from_json(j, pattern);
    EXPECT_EQ(t.encode(mvs + "!"), (Ids{2})) << pattern;
    EXPECT_EQ(t.encode(nel + "!"), (Ids{4, 1})) << pattern;
    EXPECT_EQ(t.encode(" " + mvs + "! "), (Ids{3, 2, 3})) << pattern;
  }
}

// The split behaviours, on the tokenizers documentation's example "the-final--countdown" split at "-".
TEST(TokenizerText, SplitBehaviours) {
  std::string s = "the-final--countdown";
  std::vector<tok::Span> m;
  for (size_t p = s.find('-'); p != std::string::npos; p = s.find('-', p + 1)) m.push_back({p, p + 1});
  auto run = [&](tok::SplitBehavior b, bool invert = false) {
    std::vector<std::string> out;
    for (auto sp : tok::split_pieces(s.size(), m, b, invert)) out.push_back(s.substr(sp.begin, sp.end - sp.begin));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(run(tok::SplitBehavior::removed), (V{"the", "final", "countdown"}));
  EXPECT_EQ(run(tok::SplitBehavior::isolated), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(run(tok::SplitBehavior::merged_with_previous), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(run(tok::SplitBehavior::merged_with_next), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(run(tok::SplitBehavior::contiguous), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(run(tok::SplitBehavior::removed, true), (V{"-", "-", "-"}));
}

// ---- Malformed files: one test per error ----------------------------------------------------

// A file path under gtest's temp dir, unique to this process and call.
std::string temp_path(const std::string& name) {
  static int counter = 0;
  return ::testing::TempDir() + "rleif_tok_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + name;
}

// Writes `text` to a temp tokenizer.json and returns the message from_file throws ("" if none).
std::string load_error(const std::string& text) {
  std::string path = temp_path("tokenizer.json");
  std::ofstream(path) << text;
  std::string msg;
  try {
    Tokenizer::from_file(path);
  } catch (const Error& e) {
    msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
  }
  std::remove(path.c_str());
  return msg;
}
std::string load_error(const json& j) { return load_error(j.dump()); }

::testing::AssertionResult mentions(const std::string& msg, std::initializer_list<const char*> parts) {
  if (msg.empty()) return ::testing::AssertionFailure() << "no error was thrown";
  for (const char* p : parts)
    if (msg.find(p) == std::string::npos) return ::testing::AssertionFailure() << "'" << p << "' not in: " << msg;
  return ::testing::AssertionSuccess();
}

json small() { return bpe_json(vocab_of({"a", "b", "ab"}), {"a b"}); }

TEST(TokenizerErrors, NotJson) { EXPECT_TRUE(mentions(load_error(std::string("{\"model\": ")), {"not valid JSON"})); }

TEST(TokenizerErrors, MissingFile) {
  EXPECT_THROW(Tokenizer::from_file(temp_path("absent.json")), Error);
}

TEST(TokenizerErrors, MissingModel) {
  json j = small();
  j.erase("model");
  EXPECT_TRUE(mentions(load_error(j), {"missing \"model\""}));
}

TEST(TokenizerErrors, UnsupportedModelTypes) {
  for (const char* type : {"WordPiece", "Unigram", "WordLevel"}) {
    json j = small();
    j["model"]["type"] = type;
    EXPECT_TRUE(mentions(load_error(j), {type, "only BPE"}));
  }
}

TEST(TokenizerErrors, MergeWithTokenNotInVocab) {
  EXPECT_TRUE(mentions(load_error(bpe_json(vocab_of({"a", "b", "ab"}), {"a b", "a c"})), {"merges[1]", "'c'", "not in"}));
  EXPECT_TRUE(mentions(load_error(bpe_json(vocab_of({"a", "b"}), {"a b"})), {"merged token 'ab'"}));
  EXPECT_TRUE(mentions(load_error(bpe_json(vocab_of({"a", "b"}), {"a b c"})), {"merges[0]", "two tokens"}));
}

TEST(TokenizerErrors, VocabIdOutOfRange) {
  EXPECT_TRUE(mentions(load_error(bpe_json({{"a", 0}, {"b", -1}}, json::array())), {"'b'", "-1", "[0, "}));
  EXPECT_TRUE(mentions(load_error(bpe_json({{"a", 0}, {"b", 1 << 30}}, json::array())), {"'b'", "[0, "}));
  EXPECT_TRUE(mentions(load_error(bpe_json({{"a", 0}, {"b", "1"}}, json::array())), {"'b'"}));
}

TEST(TokenizerErrors, DuplicateVocabIds) {
  EXPECT_TRUE(mentions(load_error(bpe_json({{"a", 0}, {"b", 0}}, json::array())), {"id 0", "'a'", "'b'"}));
}

TEST(TokenizerErrors, InvalidRegex) {
  json j = small();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a(b"}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_TRUE(mentions(load_error(j), {"pre_tokenizer", "invalid regex", "missing closing parenthesis", "offset 3"}));
}

TEST(TokenizerErrors, UnsupportedNormalizer) {
  json j = small();
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}}}};
  EXPECT_TRUE(mentions(load_error(j), {"normalizer.normalizers[0]", "unsupported normalizer type 'Lowercase'"}));
}

TEST(TokenizerErrors, UnsupportedPreTokenizer) {
  json j = small();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_TRUE(mentions(load_error(j), {"unsupported pre-tokenizer type 'Whitespace'"}));
}

TEST(TokenizerErrors, UnsupportedDecoder) {
  json j = small();
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}};
  EXPECT_TRUE(mentions(load_error(j), {"unsupported decoder type 'WordPiece'"}));
}

TEST(TokenizerErrors, UnsupportedPostProcessor) {
  json j = small();
  j["post_processor"] = {{"type", "Mystery"}};
  EXPECT_TRUE(mentions(load_error(j), {"unsupported post-processor type 'Mystery'"}));
}

TEST(TokenizerErrors, DropoutMustBeNull) {
  json j = small();
  j["model"]["dropout"] = 0.1;
  EXPECT_TRUE(mentions(load_error(j), {"dropout", "null"}));
}

TEST(TokenizerErrors, UnkTokenNotInVocab) {
  json j = small();
  j["model"]["unk_token"] = "<unk>";
  EXPECT_TRUE(mentions(load_error(j), {"unk_token '<unk>'", "not in model.vocab"}));
}

TEST(TokenizerErrors, TemplateNamesAnUnknownSpecialToken) {
  json j = spm_json();
  j["post_processor"]["special_tokens"] = json::object();
  EXPECT_TRUE(mentions(load_error(j), {"post_processor.single[0]", "'<s>'", "missing from 'special_tokens'"}));
}

TEST(TokenizerErrors, AddedTokenWithoutContent) {
  json j = small();
  j["added_tokens"] = {{{"id", 3}, {"special", true}}};
  EXPECT_TRUE(mentions(load_error(j), {"added_tokens[0]", "'content' must be a string"}));
}

}  // namespace
}  // namespace rleif
