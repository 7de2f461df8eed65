// `rleif serve` end to end on loopback, driven by the official openai Python client
// (scripts/fixtures/rollout_openai_client.py): completions, chat, streaming, n > 1, errors; a bounded
// load test with zero failures; a full queue answering 503; SIGTERM draining a running stream and
// the process exiting 0.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/test_util.h"

namespace rleif::test {
namespace {

std::string model_dir() { return fixtures_dir() + "/rollout_models/llama"; }

// A `rleif serve` child process on 127.0.0.1 with a free port chosen by the OS.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> extra) {
    log_ = temp_dir("serve") + "/serve.log";
    std::vector<std::string> argv = {rleif_bin(), "serve", "--model", model_dir(), "--port", "0", "--threads", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(log_.c_str(), "w");
      ::dup2(fileno(f), 1);
      ::dup2(fileno(f), 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    const std::regex re("listening on (http://127\\.0\\.0\\.1:[0-9]+)");
    for (int i = 0; i < 600 && url_.empty() && alive(); ++i) {
      std::smatch m;
      const std::string text = log();
      if (std::regex_search(text, m, re)) url_ = m[1];
      else std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && alive()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool alive() {
    if (exited_) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) exited_ = true, status_ = st;
    return !exited_;
  }
  // Waits up to `seconds` for the process to end; returns its exit code (-1 if it did not end).
  int wait_exit(double seconds) {
    for (int i = 0; i < seconds * 10 && alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (alive()) return -1;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
  }
  std::string log() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }

 private:
  std::string log_, url_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

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
    if (run_command({python_bin(), "-c", "import openai"}).exit_code != 0)
      GTEST_SKIP() << "the openai Python package is not installed in " << python_bin();
  }
};

TEST_F(ServeTest, OpenAIClientCompletionsChatStreamingAndErrors) {
  ServeProcess s({"--api-key", "test-key-123", "--max-batch", "4"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("check", s, {"--api-key", "test-key-123"});
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_EQ(s.log().find("test-key-123"), std::string::npos) << "the API key must never be logged";
  EXPECT_TRUE(s.alive());
}

TEST_F(ServeTest, ConcurrentClientsAllSucceedAndServerStaysUp) {
  ServeProcess s({"--max-batch", "8", "--max-queue", "512"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("load", s, {"--clients", "48", "--requests", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_NE(r.out.find("0 failed"), std::string::npos) << r.out;
  EXPECT_TRUE(s.alive());
}

TEST_F(ServeTest, FullQueueAnswers503) {
  ServeProcess s({"--max-batch", "1", "--max-queue", "1"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("queue", s);
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_TRUE(s.alive());
}

TEST_F(ServeTest, SigtermDrainsRunningStreamAndExitsZero) {
  ServeProcess s({"--max-batch", "4"});
  ASSERT_FALSE(s.url().empty()) << s.log();
  auto r = client("drain", s, {"--pid", std::to_string(s.pid())});
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << s.log();
  EXPECT_EQ(s.wait_exit(60), 0) << s.log();
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
