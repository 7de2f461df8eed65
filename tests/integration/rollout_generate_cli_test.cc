// `rleif generate` through the binary: --input/--output JSONL with n samples, resuming after an
// interruption writes exactly what an uninterrupted run writes, --prompt prints prompt + continuation,
// and bad input names the file and line.
#include <gtest/gtest.h>

#include <map>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/strings.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

std::string model_dir() { return fixtures_dir() + "/rollout_models/llama"; }

std::map<std::string, json> by_id(const std::string& path) {
  std::map<std::string, json> m;
  for (auto& r : read_jsonl(path)) m[r["id"].is_string() ? r["id"].get<std::string>() : r["id"].dump()] = r;
  return m;
}

std::vector<std::string> gen_args(const std::string& in, const std::string& out) {
  return {rleif_bin(), "-q", "generate", "--model", model_dir(), "--input", in, "--output", out, "--n", "3",
          "--temperature", "0.9", "--top-p", "0.95", "--max-new-tokens", "12", "--seed", "1", "--threads", "1",
          "--max-batch", "4"};
}

TEST(GenerateCli, WritesSamplesAndResumesToTheSameResult) {
  RLEIF_REQUIRE_PATH(model_dir() + "/config.json");
  const std::string dir = temp_dir("gen_cli");
  const std::string in = dir + "/prompts.jsonl";
  {
    JsonlAppender a(in);
    for (int i = 0; i < 7; ++i) a.append({{"id", "q" + std::to_string(i)}, {"prompt", "Question " + std::to_string(i * 13)}, {"extra", i}});
  }
  auto full = run_command(gen_args(in, dir + "/full.jsonl"));
  ASSERT_EQ(full.exit_code, 0) << full.out;
  auto all = by_id(dir + "/full.jsonl");
  ASSERT_EQ(all.size(), 7u);
  for (auto& [id, r] : all) {
    ASSERT_EQ(r["samples"].size(), 3u) << r.dump();
    EXPECT_EQ(r["extra"].get<int>(), std::stoi(id.substr(1)));  // input fields are kept
    for (auto& s : r["samples"]) {
      EXPECT_EQ(s["num_tokens"].get<int>(), 12) << s.dump();  // EOS is unlikely from a random model
      EXPECT_LT(s["logprob"].get<double>(), 0.0);
      EXPECT_TRUE(s["text"].is_string());
    }
  }
  // An interrupted run: two records made it out, plus half a line cut by a kill.
  const auto lines = split(read_file(dir + "/full.jsonl"), '\n');
  write_file_atomic(dir + "/part.jsonl", lines[0] + "\n" + lines[1] + "\n" + lines[2].substr(0, 20));
  auto resumed = run_command(gen_args(in, dir + "/part.jsonl"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
  auto part = by_id(dir + "/part.jsonl");
  ASSERT_EQ(part.size(), 7u);
  for (auto& [id, r] : all) {
    ASSERT_EQ(part[id]["samples"].size(), 3u);
    for (size_t j = 0; j < 3; ++j) {
      const json &a = part[id]["samples"][j], &b = r["samples"][j];
      EXPECT_EQ(a["text"], b["text"]) << "record " << id << " sample " << j;
      EXPECT_EQ(a["finish_reason"], b["finish_reason"]);
      // Same tokens; the summed log-prob differs only by fp32 rounding of other batch shapes
      // (each token's log-prob within the engine's 1e-5 bound).
      EXPECT_NEAR(a["logprob"].get<double>(), b["logprob"].get<double>(), 12 * 1e-5);
    }
  }
  // Nothing left: a third run changes nothing.
  auto again = run_command(gen_args(in, dir + "/part.jsonl"));
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(read_jsonl(dir + "/part.jsonl").size(), 7u);
}

TEST(GenerateCli, PromptModePrintsPromptAndGreedyContinuation) {
  RLEIF_REQUIRE_PATH(model_dir() + "/config.json");
  auto a = run_command({rleif_bin(), "-q", "generate", "--model", model_dir(), "--prompt", "The cat", "--temperature",
                        "0", "--max-new-tokens", "10", "--threads", "1"});
  ASSERT_EQ(a.exit_code, 0) << a.out;
  EXPECT_EQ(a.out.rfind("The cat", 0), 0u) << a.out;
  EXPECT_GT(a.out.size(), std::string("The cat\n").size());
  auto b = run_command({rleif_bin(), "-q", "generate", "--model", model_dir(), "--prompt", "The cat", "--temperature",
                        "0", "--max-new-tokens", "10", "--threads", "1", "--max-batch", "1"});
  EXPECT_EQ(a.out, b.out);  // greedy: independent of the batch size
}

TEST(GenerateCli, BadInputNamesFileAndLine) {
  RLEIF_REQUIRE_PATH(model_dir() + "/config.json");
  const std::string dir = temp_dir("gen_cli");
  write_file_atomic(dir + "/in.jsonl", "{\"id\": 1, \"prompt\": \"ok\"}\n{\"id\": 2, \"question\": \"no prompt\"}\n");
  auto r = run_command(gen_args(dir + "/in.jsonl", dir + "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("in.jsonl:2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'prompt'"), std::string::npos) << r.out;
  r = run_command({rleif_bin(), "generate", "--model", model_dir(), "--prompt", "x", "--input", dir + "/in.jsonl"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("either --prompt"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rleif::test
