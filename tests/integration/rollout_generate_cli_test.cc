// `rleif generate` through the binary: --input/--output JSONL with n samples, resuming after an
// interruption writes exactly what an uninterrupted run writes, --prompt prints prompt + continuation,
// and bad input names the file and line; an empty prompt starts from BOS alone (transformers' generate()
// without input_ids), and is an error that says so when the model has no BOS.
#include <gtest/gtest.h>
#include <unistd.h>

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

// The fixture's GPT-2 tokenizer adds no BOS, so tok("") is empty; transformers' generate() without
// input_ids starts from config.json's bos_token_id (50256) alone, and so must `--prompt ""`.
TEST(GenerateCli, EmptyPromptStartsFromConfigBosLikeTransformers) {
  ASSERT_TRUE(path_present(model_dir() + "/greedy.json")) << "missing: " << model_dir() << "/greedy.json";
  const json ref = json::parse(read_file(model_dir() + "/greedy.json"));
  ASSERT_TRUE(ref.contains("bos_output")) << "rerun scripts/fixtures/rollout_models.py";
  const std::string n_new = std::to_string(ref["max_new_tokens"].get<int>());
  const std::string dir = temp_dir("gen_cli");
  write_file_atomic(dir + "/in.jsonl", "{\"id\": \"a\", \"prompt\": \"\"}\n{\"id\": \"b\", \"prompt\": \"The cat\"}\n");
  auto r = run_command({rleif_bin(), "-q", "generate", "--model", model_dir(), "--input", dir + "/in.jsonl", "--output",
                        dir + "/out.jsonl", "--temperature", "0", "--max-new-tokens", n_new, "--threads", "1",
                        "save_tokens=true"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto out = by_id(dir + "/out.jsonl");
  ASSERT_EQ(out.size(), 2u);
  const json& empty = out["a"]["samples"][0];
  EXPECT_EQ(empty["tokens"], ref["bos_output"]) << "greedy from [BOS] alone differs from transformers";
  EXPECT_EQ(out["b"]["samples"][0]["num_tokens"].get<int>(), ref["max_new_tokens"].get<int>());

  // --prompt "" prints the same continuation (BOS decodes to nothing with special tokens skipped).
  r = run_command({rleif_bin(), "-q", "generate", "--model", model_dir(), "--prompt", "", "--temperature", "0",
                   "--max-new-tokens", n_new, "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, empty["text"].get<std::string>() + "\n");

  // An empty prompt is still a prompt: with --input it is one too many, and giving neither is an error.
  r = run_command({rleif_bin(), "generate", "--model", model_dir(), "--prompt", "", "--input", dir + "/in.jsonl",
                   "--output", dir + "/x.jsonl"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("either --prompt"), std::string::npos) << r.out;
  r = run_command({rleif_bin(), "generate", "--model", model_dir()});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("either --prompt"), std::string::npos) << r.out;
}

// The fixture model with every trace of a BOS removed: no bos_token_id in config.json, and the
// tokenizer's <|endoftext|> renamed so no BOS name matches. An empty prompt has nothing to start from.
TEST(GenerateCli, EmptyPromptWithoutBosSaysHowToFixIt) {
  ASSERT_TRUE(path_present(model_dir() + "/config.json")) << "missing: " << model_dir() << "/config.json";
  const std::string dir = temp_dir("gen_cli");
  const std::string model = dir + "/nobos";
  make_dirs(model);
  json cfg = json::parse(read_file(model_dir() + "/config.json"));
  cfg.erase("bos_token_id");
  write_file_atomic(model + "/config.json", cfg.dump());
  json tok = json::parse(read_file(model_dir() + "/tokenizer.json"));
  const json id = tok["model"]["vocab"]["<|endoftext|>"];
  tok["model"]["vocab"].erase("<|endoftext|>");
  tok["model"]["vocab"]["<|end|>"] = id;
  for (auto& t : tok["added_tokens"])
    if (t["content"] == "<|endoftext|>") t["content"] = "<|end|>";
  write_file_atomic(model + "/tokenizer.json", tok.dump());
  ASSERT_EQ(::symlink((model_dir() + "/model.safetensors").c_str(), (model + "/model.safetensors").c_str()), 0);

  auto r = run_command({rleif_bin(), "generate", "--model", model, "--prompt", "", "--max-new-tokens", "4"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("--prompt: the prompt is empty"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("has none"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bos_token_id"), std::string::npos) << r.out;
  // A non-empty prompt still works on that model.
  r = run_command({rleif_bin(), "-q", "generate", "--model", model, "--prompt", "The cat", "--max-new-tokens", "4",
                   "--temperature", "0", "--threads", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // In a JSONL input the error names the file and line.
  write_file_atomic(dir + "/in.jsonl", "{\"id\": 1, \"prompt\": \"ok\"}\n{\"id\": 2, \"prompt\": \"\"}\n");
  r = run_command({rleif_bin(), "generate", "--model", model, "--input", dir + "/in.jsonl", "--output",
                   dir + "/out.jsonl", "--max-new-tokens", "4"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("in.jsonl:2: the prompt is empty"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rleif::test
