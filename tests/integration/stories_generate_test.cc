// End to end through the rleif binary: `rleif convert llama2c` on the real stories260K checkpoint,
// then `rleif generate` greedily. The text must equal transformers' greedy continuation of the same
// converted directory (scripts/fixtures/hf_reference.py generate), so its coherence is the model's own.
// An empty prompt generates from BOS alone (llama2.c's run.c without a prompt), through `rleif generate`
// and `rleif serve` alike.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "core/fs.h"
#include "core/jsonl.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

std::string stories_bin() { return shared_dir() + "/models/stories260K/stories260K.bin"; }
std::string tok512_bin() { return shared_dir() + "/models/stories260K/tok512.bin"; }

TEST(StoriesCli, ConvertHelpListsItsOptions) {
  auto r = run_command({rleif_bin(), "convert", "llama2c", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  for (const char* opt : {"--model", "--tokenizer", "--out"}) EXPECT_NE(r.out.find(opt), std::string::npos) << r.out;
}

TEST(StoriesCli, ConvertNamesAMissingCheckpoint) {
  std::string dir = temp_dir("stories_cli");
  auto r = run_command({rleif_bin(), "convert", "llama2c", "--model", dir + "/nope.bin", "--tokenizer", tok512_bin(),
                        "--out", dir + "/model"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(dir + "/nope.bin"), std::string::npos) << r.out;
  EXPECT_FALSE(path_present(dir + "/model"));
}

TEST(StoriesCli, GreedyStoryEqualsTransformers) {
  RLEIF_REQUIRE_PATH(stories_bin());
  RLEIF_REQUIRE_PATH(tok512_bin());
  std::string dir = temp_dir("stories_cli");
  std::string model = dir + "/stories260K";
  auto r = run_command({rleif_bin(), "convert", "llama2c", "--model", stories_bin(), "--tokenizer", tok512_bin(),
                        "--out", model});
  ASSERT_EQ(r.exit_code, 0) << r.out;

  const std::string prompt = "Once upon a time";
  r = run_command({rleif_bin(), "-q", "generate", "--model", model, "--prompt", prompt, "--max-new-tokens", "100",
                   "--temperature", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto ref = run_command({python_bin(), source_dir() + "/scripts/fixtures/hf_reference.py", "generate", "--model",
                          model, "--prompt", prompt, "--max-new-tokens", "100", "--out", dir + "/hf.json"});
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  json hf = json::parse(read_file(dir + "/hf.json"));
  // 100 new tokens unless transformers stopped at </s>; either way a real story, not a few tokens.
  EXPECT_GE(hf["new_ids"].size(), 50u) << hf.dump();
  const std::string want = hf["text"].get<std::string>();
  EXPECT_EQ(r.out, want + "\n") << "rleif generate differs from transformers' greedy continuation";

  // A sanity check that the story is English, independent of the reference.
  std::set<std::string> seen;
  std::istringstream words(r.out);
  const std::set<std::string> common = {"the", "a", "was", "she", "he", "to", "and", "in", "with", "day", "big",
                                        "little", "play", "her", "his", "it", "said", "saw", "they", "there"};
  for (std::string w; words >> w;) {
    while (!w.empty() && !std::isalpha(static_cast<unsigned char>(w.back()))) w.pop_back();
    for (auto& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (common.count(w)) seen.insert(w);
  }
  EXPECT_GE(seen.size(), 6u) << r.out;
  EXPECT_EQ(r.out.rfind(prompt, 0), 0u) << "stdout starts with the prompt";
}

// Issue 16: `--prompt ""` (and "prompt": "" in the server) is a request for an unconditional sample,
// started from [BOS] alone; the reference is transformers' greedy continuation of tok("") = [BOS].
TEST(StoriesCli, EmptyPromptGeneratesFromBosLikeTransformers) {
  ASSERT_TRUE(path_present(stories_bin())) << "missing: " << stories_bin();
  ASSERT_TRUE(path_present(tok512_bin())) << "missing: " << tok512_bin();
  std::string dir = temp_dir("stories_cli");
  std::string model = dir + "/stories260K";
  auto r = run_command({rleif_bin(), "convert", "llama2c", "--model", stories_bin(), "--tokenizer", tok512_bin(),
                        "--out", model});
  ASSERT_EQ(r.exit_code, 0) << r.out;

  auto ref = run_command({python_bin(), source_dir() + "/scripts/fixtures/hf_reference.py", "generate", "--model",
                          model, "--prompt", "", "--max-new-tokens", "60", "--out", dir + "/hf.json"});
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  json hf = json::parse(read_file(dir + "/hf.json"));
  ASSERT_EQ(hf["prompt_ids"], json::array({1})) << "the reference must start from <s> alone: " << hf.dump();
  EXPECT_GE(hf["new_ids"].size(), 30u) << hf.dump();
  const std::string want = hf["text"].get<std::string>();
  EXPECT_GE(want.size(), 60u) << want;

  r = run_command({rleif_bin(), "-q", "generate", "--model", model, "--prompt", "", "--max-new-tokens", "60",
                   "--temperature", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, want + "\n") << "rleif generate --prompt \"\" differs from transformers' greedy text from [BOS]";

  // The same through --input: a record with "prompt": "".
  write_file_atomic(dir + "/in.jsonl", "{\"id\": \"empty\", \"prompt\": \"\"}\n");
  r = run_command({rleif_bin(), "-q", "generate", "--model", model, "--input", dir + "/in.jsonl", "--output",
                   dir + "/out.jsonl", "--max-new-tokens", "60", "--temperature", "0", "save_tokens=true"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto recs = read_jsonl(dir + "/out.jsonl");
  ASSERT_EQ(recs.size(), 1u);
  const json& sample = recs[0]["samples"][0];
  EXPECT_EQ(sample["text"].get<std::string>(), want);
  // transformers' new_ids end with </s> when it stopped there; rleif's tokens keep it too.
  EXPECT_EQ(sample["tokens"], hf["new_ids"]) << sample.dump();

  // And through the server: /v1/completions with "prompt": "".
  ServeProcess s(model, {});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto p = post_json(s.url() + "/v1/completions",
                     {{"model", "stories260K"}, {"prompt", ""}, {"max_tokens", 60}, {"temperature", 0}});
  ASSERT_EQ(p.exit_code, 0) << p.out << "\nserver log:\n" << s.log();
  json resp = json::parse(p.out);
  EXPECT_EQ(resp["choices"][0]["text"].get<std::string>(), want) << resp.dump();
  EXPECT_EQ(resp["usage"]["prompt_tokens"], 1) << resp.dump();
}

}  // namespace
}  // namespace rleif::test
