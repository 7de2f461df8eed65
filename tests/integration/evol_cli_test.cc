// `rleif evol` end to end: the shipped synthetic config, kill -9 at several points then resume to the
// same bytes, SIGINT, secrets kept out of every output and log, and bad input through the CLI.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "core/fs.h"
#include "core/jsonl.h"
#include "evol/math_domain.h"
#include "evol/prompts.h"
#include "evol/synthetic_teacher.h"
#include "tests/evol_fake_server.h"
#include "tests/evol_test_util.h"
#include "tests/test_util.h"

namespace rleif::evol {
namespace {

// A child process running rleif, with stdout+stderr in a file.
struct Child {
  pid_t pid = -1;
  std::string log;
  static Child spawn(const std::vector<std::string>& argv, const std::string& log) {
    Child c;
    c.log = log;
    // Everything the child needs is prepared before fork: the test process has server threads.
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    c.pid = ::fork();
    if (c.pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    return c;
  }
  // Exit code, or -signal; nullopt while running.
  std::optional<int> poll() const {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r != pid) return std::nullopt;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  int wait() const {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
};

std::string config_path() { return test::source_dir() + "/configs/evol_synth.yaml"; }

// Solutions for the PRM stage: the domain's reference solutions and corrupted ones.
std::string write_solutions(const std::string& dir) {
  std::string text;
  auto ps = generate_problems(12, 31, 1, 4);
  for (size_t i = 0; i < ps.size(); ++i)
    text += json{{"id", i}, {"prompt", ps[i].question},
                 {"samples", {{{"text", ps[i].solution}}, {{"text", corrupt_solution(ps[i], 0, i)}}}}}
                .dump() +
            "\n";
  write_file_atomic(dir + "/solutions.jsonl", text);
  return dir + "/solutions.jsonl";
}

// Command-line overrides for a small synthetic run.
std::vector<std::string> small_run(const std::string& out, const std::string& solutions, int seeds) {
  return {test::rleif_bin(), "-q", "evol", "--config", config_path(), "output.dir=" + out,
          "output.progress=false", "seeds.synth_count=" + std::to_string(seeds), "evolution.rounds=2",
          "evolution.variants=3", "prm.solutions=" + solutions};
}

// The same run against an OpenAI-compatible server on loopback.
std::vector<std::string> http_run(const std::string& out, const std::string& solutions, int seeds,
                                  const test::FakeTeacherServer& server) {
  auto a = small_run(out, solutions, seeds);
  const std::vector<std::string> teacher = {"teacher.kind=openai",
                                            "teacher.base_url=" + server.base_url(),
                                            "teacher.model=fake",
                                            "teacher.api_key_env=RLEIF_TEST_CLI_KEY",
                                            "teacher.max_in_flight=8",
                                            "teacher.backoff_base_s=0.01",
                                            "teacher.backoff_max_s=0.05"};
  for (const std::string& s : teacher)
    a.push_back(s);
  return a;
}

test::FakeTeacherServer::Handler synthetic_handler(const SyntheticTeacher& t) {
  return [&t](const json& req) {
    Messages m;
    for (auto& x : req["messages"]) m.push_back({x["role"], x["content"]});
    return t.respond(m, req.value("seed", int64_t{0}));
  };
}

class EvolCli : public ::testing::Test {
 protected:
  void SetUp() override {
    RLEIF_REQUIRE_PATH(test::rleif_bin());
    RLEIF_REQUIRE_PATH(config_path());
    ::setenv("RLEIF_TEST_CLI_KEY", "sk-cli-sentinel-4242", 1);
  }
  // The synthetic teacher as configs/evol_synth.yaml sets it up (the server answers with it).
  SyntheticTeacherOptions synth_options() {
    SyntheticTeacherOptions o;
    YAML::Node n = YAML::LoadFile(config_path())["teacher"]["synthetic"];
    apply_yaml(o, n, config_path());
    return o;
  }
};

TEST_F(EvolCli, ShippedSyntheticConfigRuns) {
  std::string dir = test::temp_dir("evol_cli");
  auto r = test::run_command(small_run(dir + "/out", write_solutions(dir), 15), 300);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("evol: done"), std::string::npos) << r.out;
  EXPECT_EQ(test::count_lines(dir + "/out/evolved.jsonl"), 15 + 15 * 3 * 2);
  EXPECT_GT(test::count_lines(dir + "/out/irm_lists.jsonl"), 0);
  EXPECT_EQ(test::count_lines(dir + "/out/prm_steps.jsonl"), 24);
  auto help = test::run_command({test::rleif_bin(), "evol", "--help-config"});
  EXPECT_NE(help.out.find("evolution.variants"), std::string::npos) << help.out;
}

TEST_F(EvolCli, KillNineAtManyPointsThenResumeGivesTheSameFiles) {
  std::string dir = test::temp_dir("evol_kill");
  std::string sol = write_solutions(dir);
  SyntheticTeacher synth(synth_options(), Prompts::load(""));
  test::FakeTeacherServer server(synthetic_handler(synth), {}, /*latency_s=*/0.01);
  auto ref = test::run_command(http_run(dir + "/ref", sol, 30, server), 600);
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  int64_t ref_ok = server.stats().ok;

  // Kill points: as soon as a file reaches a line count (a kill lands wherever the run is then,
  // mid-request, mid-append or mid-stage).
  const std::vector<std::pair<std::string, int64_t>> points = {
      {"evolved.jsonl", 1},   {"evolved.jsonl", 25},    {"evolved.jsonl", 70},  {"evolved.jsonl", 140},
      {"evolved.jsonl", 200}, {"irm_lists.jsonl", 1},   {"irm_lists.jsonl", 30}, {"prm_steps.jsonl", 1},
      {"prm_steps.jsonl", 12}};
  std::string out = dir + "/killed";
  int kills = 0;
  int64_t before = server.stats().ok;
  for (auto& [file, lines] : points) {
    Child c = Child::spawn(http_run(out, sol, 30, server), dir + "/kill.log");
    std::optional<int> done;
    while (!(done = c.poll()) && test::count_lines(out + "/" + file) < lines)
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (done) {
      ASSERT_EQ(*done, 0) << read_file(dir + "/kill.log");
      continue;
    }
    ::kill(c.pid, SIGKILL);
    EXPECT_EQ(c.wait(), -SIGKILL);
    ++kills;
  }
  auto fin = test::run_command(http_run(out, sol, 30, server), 600);
  ASSERT_EQ(fin.exit_code, 0) << fin.out << read_file(dir + "/kill.log");
  std::cout << "[ evol ] killed with SIGKILL " << kills << " times before the run completed\n";
  EXPECT_GE(kills, 6) << "the run finished before most kill points; slow the server down";
  EXPECT_TRUE(test::same_evol_outputs(dir + "/ref", out));
  // Completed calls were never paid twice: only calls in flight at a kill were sent again.
  EXPECT_LE(server.stats().ok - before, ref_ok + kills * 8);
}

TEST_F(EvolCli, SigintStopsAfterInFlightRequestsAndResumes) {
  std::string dir = test::temp_dir("evol_int");
  std::string sol = write_solutions(dir);
  SyntheticTeacher synth(synth_options(), Prompts::load(""));
  test::FakeTeacherServer server(synthetic_handler(synth), {}, /*latency_s=*/0.02);
  auto ref = test::run_command(http_run(dir + "/ref", sol, 20, server), 600);
  ASSERT_EQ(ref.exit_code, 0) << ref.out;

  std::string out = dir + "/int";
  Child c = Child::spawn(http_run(out, sol, 20, server), dir + "/int.log");
  while (!c.poll() && test::count_lines(out + "/evolved.jsonl") < 30) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(c.pid, SIGINT);
  int code = c.wait();
  std::string log = read_file(dir + "/int.log");
  ASSERT_EQ(code, 130) << log;
  EXPECT_NE(log.find("stopped early"), std::string::npos) << log;
  // Clean stop: everything written is journaled (nothing to cut back on resume).
  int64_t journaled = 0;
  for (auto& j : read_jsonl(out + "/journal.jsonl"))
    if (j["stage"] == "evolve") journaled = j["lines"];
  EXPECT_EQ(journaled, test::count_lines(out + "/evolved.jsonl"));
  EXPECT_LT(journaled, test::count_lines(dir + "/ref/evolved.jsonl"));

  auto fin = test::run_command(http_run(out, sol, 20, server), 600);
  ASSERT_EQ(fin.exit_code, 0) << fin.out;
  EXPECT_TRUE(test::same_evol_outputs(dir + "/ref", out));
}

TEST_F(EvolCli, ApiKeyNeverReachesOutputsLogsOrCache) {
  std::string dir = test::temp_dir("evol_secret");
  SyntheticTeacher synth(synth_options(), Prompts::load(""));
  test::FaultPlan plan;
  plan.server_error = 0.1;  // retries are logged at -v: the key must not be in them either
  test::FakeTeacherServer server(synthetic_handler(synth), plan);
  auto args = http_run(dir + "/out", write_solutions(dir), 8, server);
  args[1] = "-v";
  auto r = test::run_command(args, 300);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(server.stats().authorization, (std::set<std::string>{"Bearer sk-cli-sentinel-4242"}));
  EXPECT_EQ(r.out.find("sk-cli-sentinel-4242"), std::string::npos);
  int files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir + "/out")) {
    if (!e.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(read_file(e.path().string()).find("sk-cli-sentinel-4242"), std::string::npos) << e.path();
  }
  EXPECT_GE(files, 8);
}

TEST_F(EvolCli, Gsm8kConfigRunsAgainstALoopbackTeacher) {
  const std::string train = test::shared_dir() + "/data/gsm8k/train.jsonl";
  RLEIF_REQUIRE_PATH(train);
  const std::string gsm8k_config = test::source_dir() + "/configs/evol_gsm8k.yaml";
  // The teacher answers GSM8K questions with GSM8K's own solutions (rewritten to end in
  // "The answer is: N") and leaves everything else to the synthetic teacher, which cannot evolve
  // GSM8K text: its copies are then eliminated as giving no information gain.
  std::map<std::string, std::string> solutions;
  for (const json& r : read_jsonl(train)) {
    std::string a = r["answer"];
    solutions[r["question"]] = a.substr(0, a.rfind("####")) + "The answer is: " + a.substr(a.rfind("####") + 5);
    if (solutions.size() == 6) break;
  }
  Prompts prompts = Prompts::load("");
  SyntheticTeacher synth(synth_options(), prompts);
  test::FakeTeacherServer server([&](const json& req) {
    Messages m;
    for (auto& x : req["messages"]) m.push_back({x["role"], x["content"]});
    if (auto hit = prompts.answer.match(m.back().content)) {
      auto it = solutions.find((*hit)["instruction"]);
      if (it != solutions.end()) return it->second;
    }
    return synth.respond(m, req.value("seed", int64_t{0}));
  });
  std::string dir = test::temp_dir("evol_gsm8k");
  auto r = test::run_command({test::rleif_bin(), "-q", "evol", "--config", gsm8k_config, "output.dir=" + dir + "/out",
                              "output.progress=false", "seeds.path=" + train, "seeds.limit=6", "evolution.rounds=1",
                              "evolution.variants=2", "teacher.base_url=" + server.base_url(),
                              "teacher.api_key_env=RLEIF_TEST_CLI_KEY"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto evolved = read_jsonl(dir + "/out/evolved.jsonl");
  ASSERT_EQ(evolved.size(), 6u + 6u * 2);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(evolved[i]["id"], "train-" + std::to_string(i));
    EXPECT_EQ(evolved[i]["correct"], true) << evolved[i].dump();
    EXPECT_EQ(evolved[i]["kept"], true);
  }
  for (size_t i = 6; i < evolved.size(); ++i) EXPECT_EQ(evolved[i]["reason"], "no_information_gain") << evolved[i].dump();
  EXPECT_EQ(server.stats().authorization, (std::set<std::string>{"Bearer sk-cli-sentinel-4242"}));
}

TEST_F(EvolCli, BadInputExitsWithAClearMessage) {
  std::string dir = test::temp_dir("evol_badcli");
  write_file_atomic(dir + "/seeds.jsonl", "{\"id\": 1, \"instruction\": \"Q\"}\n{\"instruction\": \"Q2\"}\n");
  auto r = test::run_command({test::rleif_bin(), "evol", "--config", config_path(), "output.dir=" + dir + "/out",
                              "seeds.format=jsonl", "seeds.path=" + dir + "/seeds.jsonl"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("rleif: error: " + dir + "/seeds.jsonl:2: missing required field 'id'"), std::string::npos)
      << r.out;
  auto k = test::run_command({test::rleif_bin(), "evol", "--config", config_path(), "output.dir=" + dir + "/out2",
                              "teacher.kind=openai", "teacher.api_key_env=RLEIF_TEST_CLI_UNSET"});
  EXPECT_EQ(k.exit_code, 1) << k.out;
  EXPECT_NE(k.out.find("RLEIF_TEST_CLI_UNSET is not set"), std::string::npos) << k.out;
  auto u = test::run_command({test::rleif_bin(), "evol", "--config", config_path(), "evolution.rouds=2"});
  EXPECT_EQ(u.exit_code, 1) << u.out;
  EXPECT_NE(u.out.find("did you mean 'evolution.rounds'"), std::string::npos) << u.out;
}

}  // namespace
}  // namespace rleif::evol
