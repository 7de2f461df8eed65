// `rleif evol` with `rleif serve` as its teacher, end to end over loopback HTTP: every stage (seed
// answers, evolution, the equality judge, responses, IRM ranking, PRM step labels) goes through the
// OpenAI-compatible server with the bearer key; the model is the tiny random fixture, so its replies
// are gibberish and the run must sort them out (eliminations with reasons, unparseable rankings and
// judgements retried then skipped), never crash. Two runs against the same server give the same
// files, because every request carries a seed and serve's draws do not depend on batch neighbours; a
// rerun is served from the response cache; the key reaches no log or file.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cstdlib>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/strings.h"
#include "evol/math_domain.h"
#include "tests/evol_test_util.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace rleif::evol {
namespace {

using nlohmann::json;

constexpr const char* kKey = "sk-serve-sentinel-7319";

std::string model_dir() { return test::fixtures_dir() + "/rollout_models/llama"; }

// Solutions for the PRM stage: the domain's reference solutions.
std::string write_solutions(const std::string& dir) {
  std::string text;
  auto ps = generate_problems(3, 17, 1, 3);
  for (size_t i = 0; i < ps.size(); ++i)
    text += json{{"id", i}, {"prompt", ps[i].question}, {"samples", {{{"text", ps[i].solution}}}}}.dump() + "\n";
  write_file_atomic(dir + "/solutions.jsonl", text);
  return dir + "/solutions.jsonl";
}

// The shipped OpenAI-teacher config, pointed at the server, small, with short replies (the fixture
// model has 512 positions).
std::vector<std::string> evol_run(const std::string& out, const std::string& solutions, const std::string& url) {
  return {test::rleif_bin(), "evol", "--config", test::source_dir() + "/configs/evol_gsm8k.yaml",
          "seeds.format=synth", "seeds.path=", "seeds.synth_count=5", "seeds.synth_seed=3",
          "evolution.rounds=2", "evolution.variants=2", "prm.solutions=" + solutions,
          "teacher.base_url=" + url + "/v1", "teacher.model=llama", "teacher.api_key_env=RLEIF_TEST_SERVE_KEY",
          "teacher.max_in_flight=6", "teacher.timeout_s=60", "sampling.evolve.max_tokens=24",
          "sampling.answer.max_tokens=24", "sampling.judge.max_tokens=6", "sampling.rank.max_tokens=12",
          "sampling.label.max_tokens=12", "output.dir=" + out, "output.progress=false"};
}

class EvolServe : public ::testing::Test {
 protected:
  void SetUp() override {
    RLEIF_REQUIRE_PATH(test::rleif_bin());
    RLEIF_REQUIRE_PATH(model_dir() + "/config.json");
    ::setenv("RLEIF_TEST_SERVE_KEY", kKey, 1);
  }
};

TEST_F(EvolServe, EveryStageRunsThroughServeReproduciblyAndFromCache) {
  const std::string dir = test::temp_dir("evol_serve");
  const std::string sol = write_solutions(dir);
  test::ServeProcess serve(model_dir(), {"--api-key", kKey, "--max-batch", "8"});
  ASSERT_FALSE(serve.url().empty()) << serve.log();

  auto a = test::run_command(evol_run(dir + "/a", sol, serve.url()), 600);
  ASSERT_EQ(a.exit_code, 0) << a.out << "\nserver log:\n" << serve.log();
  EXPECT_NE(a.out.find("evol: done"), std::string::npos) << a.out;
  // 5 seeds answered (round 0) + 5 seeds x 2 rounds x 2 variants evolved.
  EXPECT_EQ(test::count_lines(dir + "/a/evolved.jsonl"), 5 + 5 * 2 * 2);
  for (const auto& line : split(read_file(dir + "/a/evolved.jsonl"), '\n')) {
    if (line.empty()) continue;
    json r = json::parse(line);
    ASSERT_TRUE(r.contains("kept") && r.contains("response")) << line;
    if (!r["kept"].get<bool>()) EXPECT_FALSE(r.value("reason", "").empty()) << line;
  }
  json summary = json::parse(read_file(dir + "/a/summary.json"));
  EXPECT_TRUE(summary["complete"].get<bool>()) << summary.dump();
  const int64_t requests = summary["usage"]["requests"].get<int64_t>();
  // Every stage asked the teacher: 25 answers or evolutions at least, IRM rankings, PRM judgements.
  EXPECT_GT(requests, 25) << summary.dump();
  EXPECT_GT(summary["irm"]["done"].get<int64_t>(), 0) << summary.dump();
  EXPECT_EQ(summary["prm"]["done"].get<int64_t>(), 3) << summary.dump();
  EXPECT_EQ(summary["usage"]["retries"].get<int64_t>(), 0) << summary.dump();
  // The server's access log saw exactly the requests evol counted.
  auto served = [&] {
    const std::string log = serve.log();
    int64_t n = 0;
    for (size_t at = 0; (at = log.find("POST /v1/chat/completions 200 ", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  EXPECT_EQ(served(), requests) << serve.log();

  // A second run into a fresh directory (no cache) sees other batch neighbours in the server and
  // still gets the same replies: the files are byte-identical.
  auto b = test::run_command(evol_run(dir + "/b", sol, serve.url()), 600);
  ASSERT_EQ(b.exit_code, 0) << b.out;
  EXPECT_TRUE(test::same_evol_outputs(dir + "/a", dir + "/b"));
  EXPECT_EQ(served(), 2 * requests);

  // A wrong key is refused by the server and reported by evol as an authentication error.
  ::setenv("RLEIF_TEST_SERVE_KEY", "sk-wrong", 1);
  auto bad = test::run_command(evol_run(dir + "/c", sol, serve.url()), 120);
  EXPECT_NE(bad.exit_code, 0) << bad.out;
  EXPECT_NE(bad.out.find("401"), std::string::npos) << bad.out;
  ::setenv("RLEIF_TEST_SERVE_KEY", kKey, 1);
  EXPECT_TRUE(serve.alive()) << serve.log();
  const std::string server_log = serve.log();

  // With the server gone (SIGTERM: it drains and exits 0), a fresh run whose response cache is the
  // first run's gets every reply from the cache and writes the same files.
  ::kill(serve.pid(), SIGTERM);
  EXPECT_EQ(serve.wait_exit(60), 0) << serve.log();
  auto cmd = evol_run(dir + "/d", sol, serve.url());
  cmd.push_back("teacher.cache_path=" + dir + "/a/cache/responses.jsonl");
  cmd.push_back("teacher.max_retries=0");
  auto cached = test::run_command(cmd, 120);
  ASSERT_EQ(cached.exit_code, 0) << cached.out;
  EXPECT_NE(cached.out.find(" 0 requests, 0 retries, " + std::to_string(requests) + " cache hits"), std::string::npos)
      << cached.out;
  EXPECT_TRUE(test::same_evol_outputs(dir + "/a", dir + "/d"));

  for (const std::string& text : {a.out, b.out, bad.out, cached.out, server_log})
    EXPECT_EQ(text.find(kKey), std::string::npos) << "the API key must never be printed";
  for (const char* f : {"evolved.jsonl", "sft.jsonl", "irm_lists.jsonl", "journal.jsonl", "run.yaml",
                        "summary.json", "cache/responses.jsonl"})
    if (path_exists(dir + "/a/" + f)) EXPECT_EQ(read_file(dir + "/a/" + f).find(kKey), std::string::npos) << f;
}

}  // namespace
}  // namespace rleif::evol
