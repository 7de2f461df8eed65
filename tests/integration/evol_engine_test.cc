// The evol engine in-process: a full synthetic run and its record shapes; determinism; resume after
// a stop and after torn writes; the same dataset through a faulty HTTP teacher; bad input.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <set>
#include <thread>

#include "core/answer.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "evol/engine.h"
#include "evol/math_domain.h"
#include "evol/stages.h"
#include "evol/synthetic_teacher.h"
#include "tests/evol_fake_server.h"
#include "tests/evol_test_util.h"
#include "tests/test_util.h"

namespace rleif::evol {
namespace {

// Solutions of synthetic problems, a right one (sample 0) and a corrupted one (sample 1) each; with
// `answers`, each record carries its reference answer, as `rleif generate` output does.
std::string write_solutions(const std::string& dir, int n, bool answers = false) {
  std::string text;
  auto ps = generate_problems(n, 77, 1, 4);
  for (size_t i = 0; i < ps.size(); ++i) {
    json rec{{"id", "sol-" + std::to_string(i)},
             {"prompt", "Below is an instruction that describes a task. Write a response that appropriately completes "
                        "the request.\n\n### Instruction:\n" + ps[i].question + "\n\n### Response:"},
             {"samples", {{{"text", ps[i].solution}}, {{"text", corrupt_solution(ps[i], 0, i)}}}}};
    if (answers) rec["answer"] = ps[i].answer;
    text += rec.dump() + "\n";
  }
  std::string path = dir + "/solutions.jsonl";
  write_file_atomic(path, text);
  return path;
}

EvolConfig synth_config(const std::string& out, const std::string& solutions) {
  EvolConfig c;
  c.seeds.format = SeedFormat::synth;
  c.seeds.synth_count = 20;
  c.seeds.synth_seed = 5;
  c.seeds.synth_min_steps = 1;
  c.seeds.synth_max_steps = 3;
  c.evolution.rounds = 2;
  c.evolution.variants = 3;
  c.teacher.kind = TeacherKind::synthetic;
  c.teacher.synthetic.ill_posed_rate = 0.2;
  c.teacher.synthetic.no_change_rate = 0.1;
  c.teacher.synthetic.echo_rate = 0.1;
  c.prm.solutions = solutions;
  c.output.dir = out;
  c.output.progress = false;
  validate_options(c);
  return c;
}

class EvolEngine : public ::testing::Test {
 protected:
  void SetUp() override { set_log_level(LogLevel::warn); }
};

TEST_F(EvolEngine, SyntheticRunProducesAuditableRecords) {
  std::string dir = test::temp_dir("evol_engine");
  EvolConfig c = synth_config(dir + "/out", write_solutions(dir, 10));
  EvolRunResult r = run_evol(c, nullptr);
  ASSERT_TRUE(r.complete);

  auto evolved = read_jsonl(dir + "/out/evolved.jsonl");
  ASSERT_EQ(evolved.size(), 20u + 20u * 3 * 2);
  std::set<std::string> ids;
  std::map<std::string, int> reasons;
  int kept = 0;
  for (size_t i = 0; i < evolved.size(); ++i) {
    const json& e = evolved[i];
    SCOPED_TRACE(e.dump());
    for (const char* k : {"id", "parent_id", "seed_id", "round", "variant", "op", "instruction", "kept"})
      ASSERT_TRUE(e.contains(k)) << k;
    EXPECT_TRUE(ids.insert(e["id"].get<std::string>()).second);
    // Fixed order: the seeds, then round by round, seed by seed, variant by variant.
    int64_t round = e["round"];
    EXPECT_EQ(round, i < 20 ? 0 : 1 + static_cast<int64_t>((i - 20) / 60));
    if (round > 0) {
      EXPECT_TRUE(ids.count(e["parent_id"].get<std::string>())) << "parent written before child";
    }
    if (e["kept"]) {
      ++kept;
      EXPECT_FALSE(e.contains("reason"));
      ASSERT_TRUE(e.contains("response"));
      EXPECT_NE(e["response"].get<std::string>().find("The answer is: "), std::string::npos);
    } else {
      ASSERT_TRUE(e.contains("reason"));
      ++reasons[e["reason"]];
    }
    if (round == 0) {
      EXPECT_EQ(e["op"], "seed");
      EXPECT_TRUE(e.contains("truth"));
    }
  }
  // Chains: variant k of a seed evolves, round after round, its last kept ancestor.
  std::map<std::string, const json*> by_id;
  for (auto& e : evolved) by_id[e["id"].get<std::string>()] = &e;
  for (auto& e : evolved) {
    if (e["round"] != 2) continue;
    std::string prev = e["seed_id"].get<std::string>() + ".r1.v" + std::to_string(e["variant"].get<int>());
    const json& p = *by_id.at(prev);
    EXPECT_EQ(e["parent_id"], p["kept"].get<bool>() ? p["id"] : p["parent_id"]) << e.dump();
  }

  // The synthetic teacher's ill-posed, unchanged and echoed evolutions each trip their rule.
  EXPECT_GT(reasons["sorry_short"], 0);
  EXPECT_GT(reasons["no_information_gain"], 0);
  EXPECT_GT(reasons["copied_template_words"], 0);
  EXPECT_GT(kept, static_cast<int>(evolved.size()) / 2);

  auto sft = read_jsonl(dir + "/out/sft.jsonl");
  EXPECT_EQ(static_cast<int>(sft.size()), kept);
  for (auto& s : sft) EXPECT_TRUE(s.contains("prompt") && s.contains("response"));

  auto irm = read_jsonl(dir + "/out/irm_lists.jsonl");
  EXPECT_GT(irm.size(), 20u);
  for (auto& l : irm) {
    ASSERT_TRUE(l.contains("seed_id") && l.contains("candidates") && l.contains("ranking"));
    size_t n = l["candidates"].size();
    EXPECT_GE(n, 2u);
    std::vector<int> rk = l["ranking"];
    std::sort(rk.begin(), rk.end());
    for (size_t k = 0; k < n; ++k) EXPECT_EQ(rk[k], static_cast<int>(k));
  }

  auto prm = read_jsonl(dir + "/out/prm_steps.jsonl");
  ASSERT_EQ(prm.size(), 20u);
  for (size_t i = 0; i < prm.size(); ++i) {
    std::vector<int> labels = prm[i]["labels"];
    ASSERT_EQ(labels.size(), prm[i]["steps"].size());
    bool corrupted = prm[i]["sample"] == 1;
    // The wrong step of a corrupted solution is its first; the reference solution is all right.
    EXPECT_EQ(labels[0], corrupted ? 0 : 1) << prm[i].dump();
    EXPECT_EQ(labels.back(), corrupted ? 0 : 1) << prm[i].dump();
    EXPECT_EQ(prm[i]["prompt"].get<std::string>().find("### Instruction"), std::string::npos);
    EXPECT_FALSE(prm[i].contains("outcome")) << "no reference answers, no outcome labels";
  }
  json summary = json::parse(read_file(dir + "/out/summary.json"));
  EXPECT_EQ(summary["evolve"]["kept"], kept);
  EXPECT_EQ(summary["evolve"]["done"], evolved.size());
}

// Shortcut negatives go to the teacher beside each solution: the answer line alone (as written, or
// stating a number copied from the question), the solution cut after k work steps with the last
// result as its answer, and the solution with one work step left out. An answer no correct step
// computed, and a step that uses a missing result, come back wrong; the steps before a cut keep
// their labels. With reference answers, every record also gets its outcome label (the final answer
// alone, right or wrong), which calls an answer stated without its work right when it is.
TEST_F(EvolEngine, PrmShortcutsAreJudgedByTheTeacher) {
  std::string dir = test::temp_dir("evol_shortcuts");
  EvolConfig c = synth_config(dir + "/out", write_solutions(dir, 12, /*answers=*/true));
  c.irm.enabled = false;
  c.prm.answer_only_rate = c.prm.copied_answer_rate = c.prm.truncate_rate = c.prm.drop_step_rate = 1;
  ASSERT_TRUE(run_evol(c, nullptr).complete);
  auto prm = read_jsonl(dir + "/out/prm_steps.jsonl");
  std::map<std::pair<std::string, int>, json> original;
  std::map<std::string, int> kinds;
  int multi_step = 0, coincidences = 0, right_without_work = 0;
  for (const json& r : prm)
    if (!r.contains("shortcut")) original[{r["source_id"].get<std::string>(), r["sample"].get<int>()}] = r;
  ASSERT_EQ(original.size(), 24u);
  for (auto& [key, r] : original) multi_step += r["steps"].size() >= 3;
  ASSERT_GT(multi_step, 4) << "the fixture needs solutions with 2 or more work steps";
  auto in_question = [](const json& r, const std::string& number) {
    return std::regex_search(r["prompt"].get<std::string>(), std::regex("\\b" + number + "\\b"));
  };
  for (const json& r : prm) {
    if (!r.contains("shortcut")) continue;
    SCOPED_TRACE(r.dump());
    const json& o = original.at({r["source_id"].get<std::string>(), r["sample"].get<int>()});
    std::vector<std::string> steps = r["steps"], full = o["steps"];
    std::vector<int> labels = r["labels"], full_labels = o["labels"];
    ASSERT_EQ(labels.size(), steps.size());
    const std::string kind = r["shortcut"];
    ++kinds[kind];
    const std::string stated = *extract_answer(steps.back());
    // The reference solution (sample 0) states the truth.
    const json& reference = original.at({r["source_id"].get<std::string>(), 0});
    const std::string truth = *extract_answer(reference["steps"].back().get<std::string>());
    EXPECT_EQ(reference["outcome"], 1);
    EXPECT_EQ(o["outcome"], *extract_answer(full.back()) == truth ? 1 : 0);
    EXPECT_EQ(r["outcome"], stated == truth ? 1 : 0) << "the answer alone decides";
    right_without_work += kind == "answer_only" && r["outcome"] == 1;
    if (kind == "answer_only" || kind == "copied_answer") {
      // An answer without its work is never a correct process, right or not.
      EXPECT_EQ(labels, std::vector<int>{0});
      if (kind == "answer_only") EXPECT_EQ(steps, std::vector<std::string>{full.back()});
      else EXPECT_TRUE(in_question(r, stated)) << stated;
      continue;
    }
    size_t cut = 0;
    while (cut < steps.size() && cut + 1 < full.size() && steps[cut] == full[cut]) ++cut;
    for (size_t k = 0; k < cut; ++k) EXPECT_EQ(labels[k], full_labels[k]) << k;
    if (kind == "truncated") {
      ASSERT_EQ(cut + 1, steps.size()) << "the work steps kept, then the answer line";
      ASSERT_LT(steps.size(), full.size());
      EXPECT_NE(full[cut - 1].find("= " + stated), std::string::npos) << "states the last kept result";
      if (r["sample"] == 0) EXPECT_EQ(labels.back(), 0) << "an intermediate result is not the answer";
    } else {
      ASSERT_EQ(kind, "drop_step");
      ASSERT_EQ(steps.size() + 1, full.size());
      EXPECT_EQ(steps.back(), full.back());
      ASSERT_LT(cut + 1, full.size()) << "the answer line is never the step dropped";
      if (r["sample"] == 1) EXPECT_EQ(labels.back(), 0) << "a wrong solution stays wrong";
      // In a reference solution the step after the cut uses the missing result, which is wrong unless
      // that number also stands in the question ("9 / 3 = 3" with 3 children): then the cut solution is
      // a right one and so are its labels.
      const std::string& gone = full[cut];
      size_t eq = gone.rfind("= ") + 2;
      const std::string result = gone.substr(eq, gone.find(' ', eq) - eq);
      const bool given = in_question(r, result);
      if (r["sample"] == 0) {
        EXPECT_EQ(labels[cut], given ? 1 : 0) << "the step after the cut uses the missing result " << result;
        coincidences += given;
      }
    }
  }
  EXPECT_EQ(kinds["answer_only"], 24);
  EXPECT_EQ(kinds["copied_answer"], 24);
  EXPECT_EQ(kinds["truncated"], multi_step);
  EXPECT_EQ(kinds["drop_step"], multi_step);
  EXPECT_LT(coincidences, multi_step / 4);
  EXPECT_EQ(right_without_work, 12) << "every reference answer stated alone: outcome 1, step label 0";
}

// A shortcut's draw depends on (seed, source id, sample) only: raising one rate keeps the others'
// choices, and a solution without work before its answer has no shortcut.
TEST_F(EvolEngine, PrmShortcutDrawsAreIndependentOfOtherRates) {
  const std::string q = "Ava has 12 marbles. Ben has 5 more marbles than Ava. Cara has 3 times as many marbles as Ben. "
                        "How many marbles does Cara have?";
  const std::vector<std::string> steps{"Ben has 12 + 5 = 17 marbles.", "Cara has 17 * 3 = 51 marbles.",
                                       "The answer is: 51"};
  PrmOptions half, all;
  half.answer_only_rate = 0.5;
  all.answer_only_rate = 0.5;
  all.copied_answer_rate = all.truncate_rate = all.drop_step_rate = 1;
  int kept = 0;
  for (int i = 0; i < 200; ++i) {
    auto a = prm_shortcuts(half, "p" + std::to_string(i), i % 4, q, steps);
    auto b = prm_shortcuts(all, "p" + std::to_string(i), i % 4, q, steps);
    const bool in_a = !a.empty(), in_b = !b.empty() && b.front().first == "answer_only";
    EXPECT_EQ(in_a, in_b) << i;
    kept += in_a;
    EXPECT_EQ(b.size(), in_b ? 4u : 3u);
  }
  EXPECT_GT(kept, 70);
  EXPECT_LT(kept, 130);
  EXPECT_TRUE(prm_shortcuts(all, "p", 0, q, {"The answer is: 51"}).empty());
  auto t = prm_shortcuts(all, "p", 0, q, steps);
  for (auto& [kind, cut] : t)
    if (kind == "truncated") EXPECT_EQ(cut, (std::vector<std::string>{"Ben has 12 + 5 = 17 marbles.", "The answer is: 17"}));
}

TEST_F(EvolEngine, SameSeedSameDatasetAndResumeAfterStopIsExact) {
  std::string dir = test::temp_dir("evol_det");
  std::string sol = write_solutions(dir, 6);
  ASSERT_TRUE(run_evol(synth_config(dir + "/a", sol), nullptr).complete);
  ASSERT_TRUE(run_evol(synth_config(dir + "/b", sol), nullptr).complete);
  EXPECT_TRUE(test::same_evol_outputs(dir + "/a", dir + "/b"));

  // Stop requested before anything runs: nothing is written, and a rerun completes the same.
  std::atomic<bool> stop{true};
  EvolRunResult r = run_evol(synth_config(dir + "/c", sol), &stop);
  EXPECT_FALSE(r.complete);
  ASSERT_TRUE(run_evol(synth_config(dir + "/c", sol), nullptr).complete);
  EXPECT_TRUE(test::same_evol_outputs(dir + "/b", dir + "/c"));

  // Torn writes: a partial record after the journaled ones and a partial journal line are cut off.
  std::string d = dir + "/a";
  {
    std::string ev = read_file(d + "/evolved.jsonl");
    write_file_atomic(d + "/evolved.jsonl", ev + R"({"id": "torn", "par)");
    std::string j = read_file(d + "/journal.jsonl");
    write_file_atomic(d + "/journal.jsonl", j + R"({"stage": "evo)");
  }
  ASSERT_TRUE(run_evol(synth_config(d, sol), nullptr).complete);
  EXPECT_TRUE(test::same_evol_outputs(dir + "/b", d));

  // A kill at any unit: the journal says N units are done (the files may hold more; they are cut
  // back), the rest run again from the response cache, and the files come out the same.
  auto evolved = read_jsonl(d + "/evolved.jsonl");
  std::string last_evolve;
  for (auto& j : read_jsonl(d + "/journal.jsonl"))
    if (j["stage"] == "evolve") last_evolve = j.dump();
  for (int64_t n : {0, 7, 20, 55, 80, 111, 139, 140, 141, 160, 170}) {
    SCOPED_TRACE(n);
    std::string journal;
    auto entry = [](const std::string& stage, const std::vector<json>& recs, int64_t done) {
      json e{{"stage", stage}, {"done", done}, {"lines", done}, {"kept", 0}, {"eliminated", 0}};
      for (int64_t i = 0; i < done; ++i) {
        if (recs[static_cast<size_t>(i)].value("kept", true)) e["kept"] = e["kept"].get<int64_t>() + 1;
        else e["eliminated"] = e["eliminated"].get<int64_t>() + 1;
      }
      return e.dump() + "\n";
    };
    if (n <= 140) {
      journal = entry("evolve", evolved, n);
    } else {  // evolve complete, IRM part done
      journal = last_evolve + "\n" + entry("irm", read_jsonl(d + "/irm_lists.jsonl"), n - 140);
    }
    write_file_atomic(d + "/journal.jsonl", journal);
    ASSERT_TRUE(run_evol(synth_config(d, sol), nullptr).complete);
    EXPECT_TRUE(test::same_evol_outputs(dir + "/b", d));
  }
}

// The IRM stage reads evolved.jsonl back from disk: a record edited or written by another tool is
// an error naming its line, not a crash (a missing key read through a const json) or a bare
// std::out_of_range (an unknown seed).
TEST_F(EvolEngine, IrmStageNamesTheLineOfABadEvolvedRecord) {
  std::string dir = test::temp_dir("evol_irm_bad");
  EvolConfig c = synth_config(dir + "/out", "");
  ASSERT_TRUE(run_evol(c, nullptr).complete);
  const std::string d = dir + "/out", evolved = read_file(d + "/evolved.jsonl");
  std::string evolve_done;  // the journal's last evolve entry: the IRM stage runs again from the start
  for (auto& j : read_jsonl(d + "/journal.jsonl"))
    if (j["stage"] == "evolve") evolve_done = j.dump() + "\n";
  // The first record of round 1 (seed records are round 0) and its line number.
  std::vector<json> recs = read_jsonl(d + "/evolved.jsonl");
  size_t at = 0;
  while (at < recs.size() && recs[at]["round"] != 1) ++at;
  ASSERT_LT(at, recs.size());
  const std::string where = d + "/evolved.jsonl:" + std::to_string(at + 1) + ": ";
  auto expect_error = [&](json bad, const std::string& what) {
    SCOPED_TRACE(bad.dump());
    std::string text;
    for (size_t i = 0; i < recs.size(); ++i) text += (i == at ? bad : recs[i]).dump() + "\n";
    write_file_atomic(d + "/evolved.jsonl", text);
    write_file_atomic(d + "/journal.jsonl", evolve_done);
    try {
      run_evol(c, nullptr);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(where + what), std::string::npos) << e.what();
    }
  };
  json r = recs[at];
  r.erase("seed_id");
  expect_error(r, "missing required field 'seed_id'");
  r = recs[at];
  r["seed_id"] = "no-such-seed";
  expect_error(r, "seed_id 'no-such-seed' is not among this run's seeds");
  r = recs[at];
  r["id"] = 7;
  expect_error(r, "field 'id' must be a string");
  r = recs[at];
  r["round"] = "one";
  expect_error(r, "field 'round' must be an integer");
  // Restored, the run completes again.
  write_file_atomic(d + "/evolved.jsonl", evolved);
  write_file_atomic(d + "/journal.jsonl", evolve_done);
  EXPECT_TRUE(run_evol(c, nullptr).complete);
}

TEST_F(EvolEngine, AnotherConfigInTheSameDirectoryIsRefused) {
  std::string dir = test::temp_dir("evol_cfg");
  EvolConfig c = synth_config(dir + "/out", "");
  ASSERT_TRUE(run_evol(c, nullptr).complete);
  EvolConfig ops = c;
  ops.teacher.openai.max_in_flight = 3;  // operational keys may change
  ops.teacher.price_prompt_per_1k = 1.0;
  EXPECT_TRUE(run_evol(ops, nullptr).complete);
  EvolConfig other = c;
  other.evolution.rounds = 3;
  try {
    run_evol(other, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("started with another config"), std::string::npos) << m;
    EXPECT_NE(m.find("rounds: 2"), std::string::npos) << m;
  }
}

TEST_F(EvolEngine, HttpTeacherWithFaultsGivesTheSameDatasetAndCountsAddUp) {
  std::string dir = test::temp_dir("evol_http");
  std::string sol = write_solutions(dir, 6);
  EvolConfig c = synth_config(dir + "/direct", sol);
  ASSERT_TRUE(run_evol(c, nullptr).complete);

  // The server answers with the synthetic teacher, reading the `seed` the client sends.
  SyntheticTeacher synth(c.teacher.synthetic, Prompts::load(""));
  test::FaultPlan plan;
  plan.rate_limited = plan.server_error = plan.malformed = plan.truncated = plan.dropped = 0.04;
  plan.slow = 0.02;
  plan.slow_s = 3.0;  // well past the timeout below
  plan.retry_after_s = 1;
  test::FakeTeacherServer server(
      [&](const json& req) {
        Messages m;
        for (auto& x : req["messages"]) m.push_back({x["role"], x["content"]});
        return synth.respond(m, req.value("seed", int64_t{0}));
      },
      plan);
  ::setenv("RLEIF_TEST_EVOL_KEY", "sk-engine-secret", 1);
  EvolConfig h = c;
  h.output.dir = dir + "/http";
  h.teacher.kind = TeacherKind::openai;
  h.teacher.openai.base_url = server.base_url();
  h.teacher.openai.model = "fake";
  h.teacher.openai.api_key_env = "RLEIF_TEST_EVOL_KEY";
  h.teacher.openai.max_in_flight = 16;
  h.teacher.openai.timeout_s = 1.5;
  h.teacher.openai.backoff_base_s = 0.01;
  h.teacher.openai.backoff_max_s = 0.05;
  ASSERT_TRUE(run_evol(h, nullptr).complete);
  EXPECT_TRUE(test::same_evol_outputs(dir + "/direct", dir + "/http"));

  auto ss = server.stats();
  json usage = json::parse(read_file(dir + "/http/summary.json"))["usage"];
  int64_t faults = 0;
  for (int f = 1; f < test::kFaultKinds; ++f) faults += ss.faults[f];
  EXPECT_GT(faults, 10);
  EXPECT_EQ(usage["retries"], faults);
  EXPECT_EQ(usage["requests"], ss.requests);
  EXPECT_EQ(usage["prompt_tokens"], ss.ok_prompt_tokens);
  // Every call the run needed was answered once: one ok response per distinct request.
  EXPECT_EQ(ss.requests - faults, ss.ok);
  for (const char* f : test::kEvolOutputs)
    EXPECT_EQ(read_file(dir + "/http/" + f).find("sk-engine-secret"), std::string::npos) << f;
  EXPECT_EQ(read_file(dir + "/http/cache/responses.jsonl").find("sk-engine-secret"), std::string::npos);

  // A rerun pays for nothing: every call is a cache hit.
  ASSERT_TRUE(run_evol(h, nullptr).complete);
  EXPECT_EQ(server.stats().requests, ss.requests);
}

TEST_F(EvolEngine, BadInputIsAClearError) {
  std::string dir = test::temp_dir("evol_bad");
  auto expect_error = [](const EvolConfig& c, const std::vector<std::string>& parts) {
    try {
      run_evol(c, nullptr);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      for (auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  // A seed without its instruction.
  write_file_atomic(dir + "/seeds.jsonl", "{\"id\": \"a\", \"instruction\": \"Q1\"}\n{\"id\": \"b\", \"question\": \"Q2\"}\n");
  EvolConfig c = synth_config(dir + "/o1", "");
  c.seeds.format = SeedFormat::jsonl;
  c.seeds.path = dir + "/seeds.jsonl";
  expect_error(c, {dir + "/seeds.jsonl:2", "missing required field 'instruction'", "seeds.format: gsm8k"});
  // GSM8K without '####'.
  write_file_atomic(dir + "/g.jsonl", "{\"question\": \"Q\", \"answer\": \"42\"}\n");
  c.seeds.format = SeedFormat::gsm8k;
  c.seeds.path = dir + "/g.jsonl";
  c.output.dir = dir + "/o2";
  expect_error(c, {dir + "/g.jsonl:1", "#### N"});
  // An invalid placeholder in a prompt override.
  make_dirs(dir + "/prompts");
  write_file_atomic(dir + "/prompts/downward.txt", "Make it easier: {instuction}");
  EvolConfig p = synth_config(dir + "/o3", "");
  p.evolution.prompts_dir = dir + "/prompts";
  expect_error(p, {dir + "/prompts/downward.txt", "{instuction}", "did you mean {instruction}"});
  // The OpenAI teacher with its key variable unset.
  EvolConfig k = synth_config(dir + "/o4", "");
  k.teacher.kind = TeacherKind::openai;
  k.teacher.openai.api_key_env = "RLEIF_TEST_UNSET_KEY_VAR";
  ::unsetenv("RLEIF_TEST_UNSET_KEY_VAR");
  expect_error(k, {"RLEIF_TEST_UNSET_KEY_VAR is not set"});
  // An unreachable base URL: a port with nothing listening.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  EvolConfig u = synth_config(dir + "/o5", "");
  u.teacher.kind = TeacherKind::openai;
  u.teacher.openai.api_key_env = "";
  u.teacher.openai.base_url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/v1";
  u.teacher.openai.max_retries = 1;
  u.teacher.openai.backoff_base_s = 0.01;
  u.teacher.openai.backoff_max_s = 0.01;
  expect_error(u, {"127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "teacher.base_url", "connect"});
  // A bad solutions file for PRM labelling.
  write_file_atomic(dir + "/sol.jsonl", "{\"prompt\": \"Q\"}\n");
  EvolConfig s = synth_config(dir + "/o6", dir + "/sol.jsonl");
  s.evolution.rounds = 0;
  expect_error(s, {dir + "/sol.jsonl:1", "'samples'"});
}

}  // namespace
}  // namespace rleif::evol
