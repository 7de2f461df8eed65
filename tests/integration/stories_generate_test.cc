// End to end through the rleif binary: `rleif convert llama2c` on the real stories260K checkpoint,
// then `rleif generate` greedily. The text must equal transformers' greedy continuation of the same
// converted directory (scripts/fixtures/hf_reference.py generate), so its coherence is the model's own.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "core/fs.h"
#include "core/jsonl.h"
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

}  // namespace
}  // namespace rleif::test
