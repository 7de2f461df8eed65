// `rleif serve` end to end on loopback, driven by the official openai Python client
// (scripts/fixtures/rollout_openai_client.py): completions, chat, streaming, n > 1, errors; a bounded
// load test with zero failures; a full queue answering 503; SIGTERM draining a running stream and
// the process exiting 0; "prompt": "" generating from BOS alone.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>


#include "core/jsonl.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

std::string model_dir() { return fixtures_dir() + "/rollout_models/llama"; }

CommandResult client(const std::string& mode, const ServeProcess& s, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {python_bin(), source_dir() + "/scripts/fixtures/rollout_openai_client.py", mode,
                                   "--base-url", s.url(), "--model", "llama"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(argv, 300);
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RLEIF_REQUIRE_PATH(model_dir() + "/config.json");
    // scripts/setup installs openai (scripts/requirements.txt): without it the test cannot run.
    ASSERT_EQ(run_command({python_bin(), "-c", "import openai"}).exit_code, 0)
        << "the openai Python package is not installed in " << python_bin() << "; run scripts/setup";
  }
};

TEST_F(ServeTest, OpenAIClientCompletionsChatStreamingAndErrors) {
  ServeProcess s(model_dir(), {"--api-key", "test-key-123", "--max-batch", "4"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("check", s, {"--api-key", "test-key-123"});
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_EQ(s.log().find("test-key-123"), std::string::npos) << "the API key must never be logged";
  // The access log: one line per request with method, path and status.
  EXPECT_NE(s.log().find("POST /v1/completions 200 "), std::string::npos) << s.log();
  EXPECT_NE(s.log().find("POST /v1/chat/completions 200 "), std::string::npos) << s.log();
  EXPECT_TRUE(s.alive());
}

TEST_F(ServeTest, ConcurrentClientsAllSucceedAndServerStaysUp) {
  ServeProcess s(model_dir(), {"--max-batch", "8", "--max-queue", "512"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("load", s, {"--clients", "48", "--requests", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_NE(r.out.find("0 failed"), std::string::npos) << r.out;
  EXPECT_TRUE(s.alive());
}

TEST_F(ServeTest, FullQueueAnswers503) {
  ServeProcess s(model_dir(), {"--max-batch", "1", "--max-queue", "1"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("queue", s);
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_TRUE(s.alive());
}

TEST_F(ServeTest, SigtermDrainsRunningStreamAndExitsZero) {
  ServeProcess s(model_dir(), {"--max-batch", "4"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("drain", s, {"--pid", std::to_string(s.pid())});
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_EQ(s.wait_exit(60), 0) << s.log();
}

// Issue 16: the fixture's GPT-2 tokenizer adds no BOS, so "" encodes to nothing; the server starts
// from config.json's bos_token_id alone, as transformers' generate() without input_ids (whose ids
// rollout_generate_cli_test checks), so "" answers what [50256] answers.
TEST_F(ServeTest, EmptyPromptGeneratesFromBos) {
  ServeProcess s(model_dir(), {"--max-batch", "2"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  json req = {{"model", "llama"}, {"prompt", ""}, {"max_tokens", 12}, {"temperature", 0}};
  auto empty = post_json(s.url() + "/v1/completions", req);
  ASSERT_EQ(empty.exit_code, 0) << empty.out << "\nserver log:\n" << s.log();
  req["prompt"] = json::array({50256});
  auto bos = post_json(s.url() + "/v1/completions", req);
  ASSERT_EQ(bos.exit_code, 0) << bos.out;
  const json a = json::parse(empty.out), b = json::parse(bos.out);
  EXPECT_EQ(a["usage"]["prompt_tokens"], 1) << a.dump();
  EXPECT_EQ(a["usage"]["completion_tokens"], 12) << a.dump();
  EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]) << a.dump() << "\n" << b.dump();
  auto cli = run_command({rleif_bin(), "-q", "generate", "--model", model_dir(), "--prompt", "", "--temperature", "0",
                          "--max-new-tokens", "12", "--threads", "1"});
  ASSERT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_EQ(a["choices"][0]["text"].get<std::string>() + "\n", cli.out);
}

TEST_F(ServeTest, BadArgumentsFailClearly) {
  auto r = run_command({rleif_bin(), "serve", "--model", model_dir(), "--port", "70000"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("serve.port"), std::string::npos) << r.out;
  r = run_command({rleif_bin(), "serve", "--model", temp_dir("serve") + "/missing"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("missing"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rleif::test
