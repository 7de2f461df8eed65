// rm/label_mc: Math-Shepherd Monte-Carlo step labels with a deterministic oracle completer on the
// built-in math domain (a continuation reaches the truth only from a prefix whose steps all check,
// and then for a fixed number of its n samples): hard/soft labels, the last-step and answered-prefix
// rules, in-order output under out-of-order completion, request seeds and prefix texts, resume after
// an interruption with a cut line, the answer checkers, and bad input naming file:line.
#include <gtest/gtest.h>

#include <deque>
#include <fstream>

#include "core/answer.h"
#include "core/fs.h"
#include "core/strings.h"
#include "evol/math_domain.h"
#include "rm/label_mc.h"
#include "tests/test_util.h"

namespace rleif::rm {
namespace {

// Continues a prefix of a math-domain solution: when every step of the prefix checks, samples
// 0..hits-1 state the true answer and the rest a wrong one; after a wrong step all are wrong.
// Requests finish a few per step(), newest first, so completion order differs from submit order.
class OracleCompleter : public McCompleter {
 public:
  struct Seen {
    uint64_t tag;
    std::string source_id;
    int64_t sample;
    std::string prefix;
    int64_t n, seed;
  };
  // hits < 0: the number of hits is the request seed mod (n + 1), so labels depend on the seeds.
  explicit OracleCompleter(int64_t hits, int64_t fail_after_steps = -1) : hits_(hits), fail_after_(fail_after_steps) {}

  void start(const std::vector<const McSolution*>& todo) override { started_with = todo.size(); }
  void submit(uint64_t tag, const McSolution& s, const std::string& prefix, int64_t n, int64_t seed) override {
    seen.push_back({tag, s.source_id, s.sample, prefix, n, seed});
    queue_.push_back({tag, &s, prefix, n, hits_ >= 0 ? hits_ : seed % (n + 1)});
  }
  bool step(const DoneFn& done) override {
    if (fail_after_ >= 0 && steps_++ >= fail_after_) throw std::runtime_error("simulated crash");
    for (int k = 0; k < 3 && !queue_.empty(); ++k) {
      Job j = queue_.back();
      queue_.pop_back();
      auto verdicts = evol::check_steps(j.s->prompt, split_steps(j.prefix));
      auto p = evol::parse_problem(j.s->prompt);
      EXPECT_TRUE(verdicts && p) << j.s->prompt;
      bool ok = true;
      for (const auto& v : *verdicts) ok = ok && v.correct;
      std::vector<std::string> texts;
      for (int64_t i = 0; i < j.n; ++i)
        texts.push_back("Some more work.\nThe answer is: " + std::to_string(ok && i < j.hits ? p->answer : p->answer + 1));
      done(j.tag, std::move(texts));
    }
    return !queue_.empty();
  }
  size_t queued() const override { return queue_.size(); }

  std::vector<Seen> seen;
  size_t started_with = 0;

 private:
  struct Job {
    uint64_t tag;
    const McSolution* s;
    std::string prefix;
    int64_t n, hits;
  };
  int64_t hits_, fail_after_, steps_ = 0;
  std::deque<Job> queue_;
};

struct Case {
  evol::MathProblem p;
  int error_step;  // of the second sample
};

// Problems with 2-4 steps; each record holds the true solution and one with a wrong step.
std::vector<Case> write_input(const std::string& path, int n_problems) {
  std::vector<Case> cases;
  std::ofstream f(path);
  auto problems = evol::generate_problems(n_problems, 11, 2, 4);
  for (size_t i = 0; i < problems.size(); ++i) {
    const auto& p = problems[i];
    const int e = static_cast<int>(i) % p.n_steps;
    json rec{{"id", "p" + std::to_string(i)}, {"prompt", p.question}, {"answer", p.answer},
             {"samples", {{{"text", p.solution}}, {{"text", evol::corrupt_solution(p, e, 5)}}}}};
    f << rec.dump() << "\n";
    cases.push_back({p, e});
  }
  return cases;
}

LabelMcConfig config(const std::string& dir) {
  LabelMcConfig c;
  c.model = dir + "/unused-model";
  c.input = dir + "/solutions.jsonl";
  c.output = dir + "/prm_steps.jsonl";
  c.n = 4;
  c.batch = 4;
  return c;
}

TEST(LabelMc, OracleLabelsFollowMathShepherdsHardAndSoftEstimates) {
  const std::string dir = test::temp_dir("label_mc_oracle");
  auto cases = write_input(dir + "/solutions.jsonl", 6);
  LabelMcConfig c = config(dir);
  OracleCompleter oracle(/*hits=*/1);
  McStats st = label_mc(c, oracle);
  EXPECT_EQ(st.solutions, 12);
  EXPECT_EQ(st.labelled, 12);
  EXPECT_EQ(oracle.started_with, 12u);
  auto rows = read_jsonl(c.output);
  ASSERT_EQ(rows.size(), 12u);
  int64_t rolled = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const Case& k = cases[r / 2];
    const bool corrupt = r % 2 == 1;
    SCOPED_TRACE("row " + std::to_string(r));
    const json& row = rows[r];
    EXPECT_EQ(row["source_id"], "p" + std::to_string(r / 2));  // input order
    EXPECT_EQ(row["sample"], r % 2);
    EXPECT_EQ(row["n"], 4);
    EXPECT_EQ(row["prompt"], k.p.question);
    const auto steps = row["steps"].get<std::vector<std::string>>();
    ASSERT_EQ(steps.size(), static_cast<size_t>(k.p.n_steps + 1));
    if (!corrupt) {
      EXPECT_EQ(join(steps, "\n"), k.p.solution);
    }
    const auto hard = row["hard"].get<std::vector<float>>(), soft = row["soft"].get<std::vector<float>>();
    EXPECT_EQ(row["labels"].get<std::vector<float>>(), hard);  // estimation: hard
    for (size_t s = 0; s < steps.size(); ++s) {
      SCOPED_TRACE("step " + std::to_string(s));
      const bool last = s + 1 == steps.size();
      const bool before_error = !corrupt || static_cast<int>(s) < k.error_step;
      if (last) {
        // The solution's own final answer, no rollouts.
        EXPECT_EQ(hard[s], corrupt ? 0.0f : 1.0f);
        EXPECT_EQ(soft[s], hard[s]);
      } else {
        ++rolled;
        EXPECT_EQ(hard[s], before_error ? 1.0f : 0.0f);
        EXPECT_EQ(soft[s], before_error ? 0.25f : 0.0f);
      }
      EXPECT_GE(hard[s], soft[s]);
      EXPECT_EQ(hard[s] > 0, soft[s] > 0);
    }
  }
  EXPECT_EQ(st.rolled_out, rolled);
  EXPECT_EQ(st.completions, rolled * 4);

  // Requests: one per rolled-out step, the prefix is the steps so far with a trailing newline, and
  // the seed is a function of (seed, solution index, step index).
  ASSERT_EQ(oracle.seen.size(), static_cast<size_t>(rolled));
  for (const auto& q : oracle.seen) {
    const size_t sol = static_cast<size_t>(std::stoi(q.source_id.substr(1))) * 2 + static_cast<size_t>(q.sample);
    const auto steps = rows[sol]["steps"].get<std::vector<std::string>>();
    const auto pre = split_steps(q.prefix);
    ASSERT_LT(pre.size(), steps.size());
    EXPECT_EQ(q.prefix, join(pre, "\n") + "\n");
    EXPECT_EQ(pre, std::vector<std::string>(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(pre.size())));
    EXPECT_EQ(q.n, 4);
    EXPECT_EQ(q.seed, mc_request_seed(c.seed, static_cast<int64_t>(sol), static_cast<int64_t>(pre.size() - 1)));
  }
}

TEST(LabelMc, SoftEstimationGoesIntoLabels) {
  const std::string dir = test::temp_dir("label_mc_soft");
  write_input(dir + "/solutions.jsonl", 2);
  LabelMcConfig c = config(dir);
  c.estimation = Estimation::soft;
  OracleCompleter oracle(3);
  label_mc(c, oracle);
  for (const auto& row : read_jsonl(c.output)) {
    EXPECT_EQ(row["labels"], row["soft"]);
    if (row["sample"] == 0) {
      EXPECT_NE(row["hard"], row["soft"]);  // the true solution: 0.75 before its last step
    }
  }
}

TEST(LabelMc, RequestSeedsDependOnEveryPartOnly) {
  const int64_t s = mc_request_seed(42, 3, 1);
  EXPECT_EQ(s, mc_request_seed(42, 3, 1));
  EXPECT_GE(s, 0);
  EXPECT_NE(s, mc_request_seed(43, 3, 1));
  EXPECT_NE(s, mc_request_seed(42, 4, 1));
  EXPECT_NE(s, mc_request_seed(42, 3, 2));
  EXPECT_NE(mc_request_seed(42, 1, 3), mc_request_seed(42, 3, 1));
}

TEST(LabelMc, InterruptedRunResumesToTheSameBytes) {
  const std::string dir = test::temp_dir("label_mc_resume");
  write_input(dir + "/solutions.jsonl", 8);
  LabelMcConfig straight = config(dir);
  straight.output = dir + "/straight.jsonl";
  OracleCompleter o1(-1);
  label_mc(straight, o1);
  const std::string want = read_file(straight.output);
  EXPECT_NE(want.find("0.25"), std::string::npos);  // seed-dependent soft labels are there to get wrong
  EXPECT_NE(want.find("0.75"), std::string::npos);

  for (int64_t crash_at : {0, 2, 5}) {
    SCOPED_TRACE("crash after " + std::to_string(crash_at) + " steps");
    LabelMcConfig c = config(dir);
    c.output = dir + "/resumed" + std::to_string(crash_at) + ".jsonl";
    OracleCompleter crashing(-1, crash_at);
    EXPECT_THROW(label_mc(c, crashing), std::runtime_error);
    const std::string partial = path_exists(c.output) ? read_file(c.output) : "";
    EXPECT_LT(partial.size(), want.size());
    EXPECT_EQ(want.substr(0, partial.size()), partial);  // whole lines in input order
    { std::ofstream(c.output, std::ios::app) << "{\"prompt\": \"cut by a ki"; }  // a write cut off by kill -9
    OracleCompleter o2(-1);
    McStats st = label_mc(c, o2);
    EXPECT_EQ(st.skipped + st.labelled, 16);
    EXPECT_EQ(read_file(c.output), want);
    // Nothing left: a third run changes nothing and submits nothing.
    OracleCompleter o3(-1);
    EXPECT_EQ(label_mc(c, o3).labelled, 0);
    EXPECT_TRUE(o3.seen.empty());
    EXPECT_EQ(read_file(c.output), want);
  }

  // A limited run followed by a full one also ends with the same bytes.
  LabelMcConfig lim = config(dir);
  lim.output = dir + "/limited.jsonl";
  lim.limit = 3;
  OracleCompleter o4(-1);
  EXPECT_EQ(label_mc(lim, o4).labelled, 6);
  lim.limit = 0;
  OracleCompleter o5(-1);
  EXPECT_EQ(label_mc(lim, o5).skipped, 6);
  EXPECT_EQ(read_file(lim.output), want);

  // An output written for another input is refused, naming its line.
  std::ofstream(dir + "/other.jsonl") << R"({"id": "zz", "prompt": "Q", "response": "a\nb", "answer": 1})" << "\n";
  LabelMcConfig other = config(dir);
  other.input = dir + "/other.jsonl";
  other.output = dir + "/straight.jsonl";
  OracleCompleter o6(-1);
  try {
    label_mc(other, o6);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(other.output + ":1: holds solution (id \"p0\""), std::string::npos) << e.what();
  }
}

TEST(LabelMc, AnswerCheckers) {
  using A = AnswerChecker;
  EXPECT_EQ(checked_answer(A::auto_, "x\nThe answer is: 5"), "5");
  EXPECT_EQ(checked_answer(A::auto_, "x\n#### 7"), "7");
  const std::string both = "The answer is: 5\n#### 7";
  EXPECT_EQ(checked_answer(A::auto_, both), "7");
  EXPECT_EQ(checked_answer(A::answer_is, both), "5");
  EXPECT_EQ(checked_answer(A::gsm8k, both), "7");
  EXPECT_EQ(checked_answer(A::gsm8k, "The answer is: 5"), std::nullopt);
  EXPECT_EQ(checked_answer(A::answer_is, "#### 7"), std::nullopt);
  EXPECT_EQ(checked_answer(A::domain, "a = 1\nThe answer is: 1,000\n\n"), "1,000");
  EXPECT_EQ(checked_answer(A::domain, "The answer is: 5\nand then more"), std::nullopt);
  EXPECT_EQ(checked_answer(A::auto_, "The answer is: 5\nand then more"), "5");
  EXPECT_EQ(checked_answer(A::domain, "no answer"), std::nullopt);
}

TEST(LabelMc, SettledLabels) {
  McSolution s;
  s.steps = {"a = 1 + 2 = 3", "The answer is: 3", "extra line"};
  s.truth = "3.0";
  EXPECT_EQ(settled_label(s, 0, AnswerChecker::auto_), std::nullopt);
  EXPECT_EQ(settled_label(s, 1, AnswerChecker::auto_), 1.0f);
  EXPECT_EQ(settled_label(s, 2, AnswerChecker::auto_), 1.0f);  // the prefix already holds the answer
  EXPECT_EQ(settled_label(s, 2, AnswerChecker::domain), 0.0f);  // the domain's answer line must end it
  s.truth = "4";
  EXPECT_EQ(settled_label(s, 1, AnswerChecker::auto_), 0.0f);
  s.steps = {"a = 1", "b = 2"};
  EXPECT_EQ(settled_label(s, 0, AnswerChecker::auto_), std::nullopt);
  EXPECT_EQ(settled_label(s, 1, AnswerChecker::auto_), 0.0f);  // ends without an answer
  EXPECT_EQ(split_steps("  a \n\n\tb\n \n"), (std::vector<std::string>{"a", "b"}));
}

TEST(LabelMc, InputForms) {
  const std::string dir = test::temp_dir("label_mc_forms");
  std::ofstream(dir + "/in.jsonl") << R"({"id": 7, "question": "Q7", "response": "s1\ns2\nThe answer is: 2"})" << "\n"
                                   << R"({"prompt": "Q2", "samples": ["x\n#### 9", {"text": " \n"}], "truth": "#### 9"})"
                                   << "\n";
  std::ofstream(dir + "/data.jsonl") << R"({"id": 7, "question": "Q7", "answer": "so #### 2"})" << "\n";
  McInput in = read_mc_solutions(dir + "/in.jsonl", dir + "/data.jsonl");
  EXPECT_EQ(in.records, 2);
  EXPECT_EQ(in.empty, 1);
  ASSERT_EQ(in.solutions.size(), 2u);
  EXPECT_EQ(in.solutions[0].source_id, "7");
  EXPECT_EQ(in.solutions[0].truth, "2");  // joined by id from the data file
  EXPECT_EQ(in.solutions[0].prompt, "Q7");
  EXPECT_EQ(in.solutions[0].steps.size(), 3u);
  EXPECT_EQ(in.solutions[1].source_id, "2");  // no id: the line number
  EXPECT_EQ(in.solutions[1].truth, "9");
  EXPECT_EQ(in.solutions[1].sample, 0);
  EXPECT_EQ(read_mc_solutions(dir + "/in.jsonl", dir + "/data.jsonl", 1).solutions.size(), 1u);
}

void expect_error(const std::string& body, const std::vector<std::string>& parts, const std::string& data = "") {
  const std::string dir = test::temp_dir("label_mc_bad");
  std::ofstream(dir + "/bad.jsonl") << R"({"id": "ok", "prompt": "Q", "response": "a\nThe answer is: 1", "answer": 1})"
                                    << "\n"
                                    << body << "\n";
  try {
    read_mc_solutions(dir + "/bad.jsonl", data);
    ADD_FAILURE() << "expected an error for " << body;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir + "/bad.jsonl:2"), std::string::npos) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(LabelMc, BadInputNamesFileAndLine) {
  expect_error(R"({"id": "a", "samples": [{"text": "x"}], "answer": 1})", {"missing required field 'prompt'"});
  expect_error(R"({"id": "a", "prompt": "Q", "answer": 1})", {"no solution", "'samples'", "'response'"});
  expect_error(R"({"id": "a", "prompt": "Q", "samples": [], "answer": 1})", {"'samples' must be a non-empty list"});
  expect_error(R"({"id": "a", "prompt": "Q", "samples": [{"txt": "x"}], "answer": 1})", {"samples[0]"});
  expect_error(R"({"id": "a", "prompt": "Q", "response": "x"})",
               {"no ground truth for id \"a\"", "no --data problems file was given"});
  const std::string dir = test::temp_dir("label_mc_data");
  std::ofstream(dir + "/data.jsonl") << R"({"id": "b", "question": "Q", "answer": 3})" << "\n";
  expect_error(R"({"id": "a", "prompt": "Q", "response": "x"})", {"has no problem with that id"}, dir + "/data.jsonl");
  expect_error(R"({"id": "a", "prompt": "Q", "response": "x", "answer": [1]})", {"'answer' must be a number or a string"});
}

TEST(LabelMc, OptionsAreValidated) {
  LabelMcConfig c = config("/tmp");
  EXPECT_NO_THROW(c.validate());
  c.seed = -1;
  EXPECT_THROW(c.validate(), Error);
  c = config("/tmp");
  c.n = 0;
  EXPECT_THROW(c.validate(), Error);
  c = config("/tmp");
  c.prompt_template = "alpacca";
  EXPECT_THROW(c.validate(), Error);
  c = config("/tmp");
  c.output = c.input;
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace rleif::rm
