// `rleif report` on small hand-written inputs: the page parses as XML (Python's xml.etree), has one
// <svg> per chart, the accuracy-by-difficulty table holds the numbers computed by hand below, stage
// times are summed over the sessions of a stage's latest run, --demo fills the inputs from the demo layout and notes the missing
// ones, and malformed inputs are errors naming file:line.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/strings.h"
#include "tests/test_util.h"

namespace rleif {
namespace {
using test::run_command;

std::string lines(const std::vector<json>& recs) {
  std::string s;
  for (const auto& r : recs) s += r.dump() + "\n";
  return s;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

json ppo_iteration(int it, double reward, bool critic) {
  json m{{"iteration", it}, {"reward", reward}, {"r_I", 0.5 + 0.01 * it}, {"r_A", 0.6 + 0.01 * it}, {"kl", 0.1 * it},
         {"train_accuracy", 0.5 + 0.05 * it}, {"time_s", 10.0}, {"time_rollout_s", 4.0}, {"time_reward_s", 1.0},
         {"time_experience_s", 2.0}, {"time_train_s", 3.0}};
  if (critic) m["value_loss"] = 1.0 / it;
  return m;
}

class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("report_cli");
    // Five problems; the by-hand numbers of the table:
    //   before: a yes, b no | 3 yes, d no | e no   -> 1-step 1/2, 2-step 1/2, 3-step 0/1, all 2/5
    //   after:  a yes, b yes | 3 yes, d no | e yes -> 1-step 2/2, 2-step 1/2, 3-step 1/1, all 4/5
    write("data.jsonl", lines({{{"id", "a"}, {"n_steps", 1}, {"prompt", "p"}, {"answer", 1}},
                               {{"id", "b"}, {"n_steps", 1}, {"prompt", "p"}, {"answer", 2}},
                               {{"id", 3}, {"n_steps", 2}, {"prompt", "p"}, {"answer", 3}},
                               {{"id", "d"}, {"n_steps", 2}, {"prompt", "p"}, {"answer", 4}},
                               {{"id", "e"}, {"n_steps", 3}, {"prompt", "p"}, {"answer", 5}}}));
    write("before.jsonl", lines({{{"id", "a"}, {"correct", true}}, {{"id", "b"}, {"correct", false}},
                                 {{"id", "3"}, {"correct", true}}, {{"id", "d"}, {"correct", false}},
                                 {{"id", "e"}, {"correct", false}}}));
    write("after.jsonl", lines({{{"id", "e"}, {"correct", true}}, {{"id", "a"}, {"correct", true}},
                                {{"id", "b"}, {"correct", true}}, {{"id", 3}, {"correct", true}},
                                {{"id", "d"}, {"correct", false}}}));
    write("sft.jsonl", lines({{{"step", 1}, {"loss", 3.0}, {"elapsed_s", 1.0}},
                              {{"step", 2}, {"loss", 2.0}, {"elapsed_s", 2.0}},
                              {{"step", 3}, {"loss", 1.0}, {"elapsed_s", 3.0}},
                              {{"step", 3}, {"eval", {{"accuracy", 0.5}, {"n", 4}}}}}));
    write("rm.jsonl", lines({{{"step", 1}, {"loss", 0.7}, {"elapsed_s", 60.0}},
                             {{"step", 2}, {"loss", 0.5}, {"elapsed_s", 120.0}},
                             {{"step", 2}, {"eval", {{"loss", 0.6}, {"step_auc", 0.8}}}}}));
    // A resumed run logs iteration 2 twice: the later line counts.
    write("ppo.jsonl", lines({{{"iteration", 0}, {"eval", {{"accuracy", 0.4}, {"correct", 2}, {"n", 5}}}},
                              ppo_iteration(1, 0.30, true), ppo_iteration(2, 0.99, true), ppo_iteration(2, 0.35, true),
                              ppo_iteration(3, 0.40, true),
                              {{"iteration", 3}, {"eval", {{"accuracy", 0.8}, {"correct", 4}, {"n", 5}}}}}));
    write("grpo.jsonl", lines({ppo_iteration(1, 0.2, false), ppo_iteration(2, 0.3, false)}));
    write("bestofn.json", json{{"n", 4},
                               {"k", {1, 2, 4}},
                               {"methods",
                                {{"pass@k", {{"mean", {0.5, 0.7, 0.9}}, {"std", {0.01, 0.01, 0.0}}}},
                                 {"majority", {{"mean", {0.5, 0.55, 0.6}}, {"std", {0.01, 0.01, 0.0}}}},
                                 {"best_of/orm", {{"mean", {0.5, 0.6, 0.65}}, {"std", {0.01, 0.01, 0.0}}}}}},
                               {"problems", 5},
                               {"subsamples", 10},
                               {"seed", 0},
                               {"spread", "std"},
                               {"within_problem_auc", {{"orm", 0.625}}},
                               {"within_problem_pairs", {{"orm", 8}}},
                               {"mixed_problems", 3}}
                              .dump(2));
    // sft: killed after 100 s and resumed for 20 s; ppo: complete in 40 s, then deleted and run again
    // in 50 s.
    write("timings.jsonl", lines({{{"stage", "sft"}, {"seconds", 100}, {"complete", false}},
                                  {{"stage", "ppo"}, {"seconds", 40}, {"complete", true}},
                                  {{"stage", "sft"}, {"seconds", 20}, {"complete", true}},
                                  {{"stage", "ppo"}, {"seconds", 50}, {"complete", true}}}));
  }
  void write(const std::string& name, const std::string& text) { write_file_atomic(dir_ + "/" + name, text); }
  std::string p(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> all_inputs() const {
    return {"--sft-metrics", p("sft.jsonl"), "--rm-metrics", "prm=" + p("rm.jsonl"), "--ppo-metrics", "base=" + p("ppo.jsonl"),
            "--data", p("data.jsonl"), "--eval-before", p("before.jsonl"), "--eval-after", p("after.jsonl"),
            "--bestofn", p("bestofn.json"), "--timings", p("timings.jsonl")};
  }
  test::CommandResult report(std::vector<std::string> extra) {
    std::vector<std::string> a{test::rleif_bin(), "report"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_command(a, 120);
  }
  // Number of SVG elements Python's XML parser finds (-1 when the page does not parse).
  int xml_svg_count(const std::string& html_path) {
    auto r = run_command({test::python_bin(), "-c",
                          "import sys, xml.etree.ElementTree as E\n"
                          "root = E.parse(sys.argv[1]).getroot()\n"
                          "assert root.tag == 'html', root.tag\n"
                          "assert not root.findall('.//script')\n"
                          "print(len(root.findall('.//{http://www.w3.org/2000/svg}svg')))\n",
                          html_path});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r.exit_code == 0 ? std::stoi(r.out) : -1;
  }
  std::string dir_;
};

TEST_F(ReportCli, WholeReportFromExplicitFiles) {
  auto a = all_inputs();
  a.insert(a.end(), {"--out", p("out/report.html"), "--title", "demo <&> report"});
  auto r = report(a);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string html = read_file(p("out/report.html"));
  // Charts: SFT loss, RM loss, PPO reward / KL / value loss / accuracy, accuracy by difficulty, best-of-n.
  EXPECT_EQ(count(html, "<svg "), 8u);
  EXPECT_EQ(xml_svg_count(p("out/report.html")), 8);
  EXPECT_NE(html.find("<title>demo &lt;&amp;&gt; report</title>"), std::string::npos);
  // bestofn.json's within-problem discrimination comes through.
  EXPECT_NE(html.find("(3 problems have both)"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>orm</td><td>0.625</td><td>8</td></tr>"), std::string::npos);
  // Accuracy by difficulty, by hand (see SetUp); ids 3 and "3" are the same problem.
  EXPECT_NE(html.find("<tr><td>1-step</td><td>50.0% (1/2)</td><td>100.0% (2/2)</td><td>50.0</td></tr>"), std::string::npos)
      << html;
  EXPECT_NE(html.find("<tr><td>2-step</td><td>50.0% (1/2)</td><td>50.0% (1/2)</td><td>0.0</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>3-step</td><td>0.0% (0/1)</td><td>100.0% (1/1)</td><td>100.0</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>all</td><td>40.0% (2/5)</td><td>80.0% (4/5)</td><td>40.0</td></tr>"), std::string::npos);
  // Stage times summed over the sessions of the latest run: sft 100 + 20 s (resumed), ppo 50 s (its
  // earlier complete 40 s run not counted), total 170 s.
  EXPECT_NE(html.find("<tr><td>sft</td><td>120</td><td>2.0</td><td>70.6%</td><td>2</td><td>0</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>ppo</td><td>50</td><td>0.8</td><td>29.4%</td><td>1</td><td>1</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td><b>total</b></td><td>170</td>"), std::string::npos);
  // PPO: three iterations (the repeated one once), 10 s each; accuracy 40% at iteration 0 -> 80% at 3.
  EXPECT_NE(html.find("<tr><td>base</td><td>3</td><td>10.00</td><td>4.00</td><td>1.00</td><td>2.00</td><td>3.00</td>"
                      "<td>40.0% (iteration 0) &#8594; 80.0% (iteration 3)</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<title>r_I</title>"), std::string::npos);
  EXPECT_NE(html.find("<title>held-out greedy</title>"), std::string::npos);
  EXPECT_NE(html.find("Best-of-n on held-out problems"), std::string::npos);
  EXPECT_NE(html.find("<td>best_of/orm</td>"), std::string::npos);
  EXPECT_EQ(html.find("Left out"), std::string::npos);
}

TEST_F(ReportCli, AblationRunsSideBySide) {
  auto r = report({"--ppo-metrics", "base=" + p("ppo.jsonl"), "--ppo-metrics", "grpo=" + p("grpo.jsonl"), "--out",
                   p("cmp.html")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string html = read_file(p("cmp.html"));
  EXPECT_EQ(xml_svg_count(p("cmp.html")), 4);  // reward, KL, value loss (base only), accuracy
  for (const char* s : {"<title>base reward</title>", "<title>grpo reward</title>", "<title>base value_loss</title>"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  EXPECT_EQ(html.find("<title>grpo value_loss</title>"), std::string::npos);
  // The inputs not given are listed.
  EXPECT_NE(html.find("<li>SFT loss (--sft-metrics): not given</li>"), std::string::npos) << html;
  EXPECT_NE(html.find("<li>best-of-n curves (--bestofn): not given</li>"), std::string::npos);
}

TEST_F(ReportCli, DemoLayoutAndMissingInputs) {
  const std::string demo = p("demo");
  make_dirs(demo + "/data");
  make_dirs(demo + "/sft");
  write("demo/data/held_out.jsonl", read_file(p("data.jsonl")));
  write("demo/eval_held_out.jsonl", read_file(p("before.jsonl")));
  write("demo/sft/metrics.jsonl", read_file(p("sft.jsonl")));
  auto r = report({"--demo", demo, "--timings", p("timings.jsonl")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string html = read_file(demo + "/report.html");
  EXPECT_EQ(xml_svg_count(demo + "/report.html"), 2);  // SFT loss, accuracy by difficulty
  EXPECT_NE(html.find("<tr><td>all</td><td>40.0% (2/5)</td><td>-</td><td>-</td></tr>"), std::string::npos) << html;
  for (const std::string& s : {"PPO curves: " + demo + "/ppo/metrics.jsonl not found",
                              "held-out accuracy after PPO: " + demo + "/eval_ppo.jsonl not found",
                              "best-of-n curves: " + demo + "/rm/bestofn/bestofn.json not found"})
    EXPECT_NE(html.find("<li>" + s + "</li>"), std::string::npos) << s;
  EXPECT_EQ(html.find("stage times:"), std::string::npos);  // --timings given explicitly
  EXPECT_NE(html.find("<tr><td>ppo</td><td>50</td>"), std::string::npos);
}

TEST_F(ReportCli, MalformedInputsNameFileAndLine) {
  auto expect_error = [&](std::vector<std::string> args, const std::string& where) {
    args.insert(args.end(), {"--out", p("bad.html")});
    auto r = report(args);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find(where), std::string::npos) << "expected '" << where << "' in: " << r.out;
  };
  write("bad_ppo.jsonl", lines({ppo_iteration(1, 0.3, true), ppo_iteration(2, 0.3, true)}) + "{\"iteration\": 3, \"rew\n");
  expect_error({"--ppo-metrics", "x=" + p("bad_ppo.jsonl")}, p("bad_ppo.jsonl") + ":3: not valid JSON");
  write("bad_sft.jsonl", lines({{{"step", 1}, {"loss", 1.0}}, {{"step", 2}, {"loss", "high"}}}));
  expect_error({"--sft-metrics", p("bad_sft.jsonl")}, p("bad_sft.jsonl") + ":2: field 'loss' must be a number");
  write("bad_eval.jsonl", lines({{{"id", "a"}, {"correct", true}}, {{"id", "zz"}, {"correct", true}}}));
  expect_error({"--data", p("data.jsonl"), "--eval-after", p("bad_eval.jsonl")},
               p("bad_eval.jsonl") + ":2: id zz is not in " + p("data.jsonl"));
  write("bad_data.jsonl", lines({{{"id", "a"}, {"n_steps", 1}}, {{"id", "b"}, {"prompt", "p"}}}));
  expect_error({"--data", p("bad_data.jsonl"), "--eval-before", p("before.jsonl")},
               p("bad_data.jsonl") + ":2: expected 'n_steps'");
  write("bad_bon.json", "{\n  \"n\": 4,\n  \"k\": [1, 2,\n}\n");
  expect_error({"--bestofn", p("bad_bon.json")}, p("bad_bon.json") + ":4: not valid JSON");
  write("bad_times.jsonl", lines({{{"stage", "sft"}, {"seconds", 1}}, {{"stage", "ppo"}}}));
  expect_error({"--timings", p("bad_times.jsonl")}, p("bad_times.jsonl") + ":2: missing required field 'seconds'");
  write("bad_done.jsonl", lines({{{"stage", "sft"}, {"seconds", 1}, {"complete", "yes"}}}));
  expect_error({"--timings", p("bad_done.jsonl")}, p("bad_done.jsonl") + ":1: field 'complete' must be true or false");
  expect_error({"--ppo-metrics", p("ppo.jsonl")}, "is not NAME=FILE");
  expect_error({"--eval-before", p("nope.jsonl")}, p("nope.jsonl") + ": no such file");
  EXPECT_FALSE(path_exists(p("bad.html")));
}

}  // namespace
}  // namespace rleif
