// evol/synthetic_teacher: reads the real prompts and answers like a teacher, deterministically.
#include <gtest/gtest.h>

#include <map>

#include "core/answer.h"
#include "evol/math_domain.h"
#include "evol/replies.h"
#include "evol/synthetic_teacher.h"

namespace rleif::evol {
namespace {

SyntheticTeacher make(SyntheticTeacherOptions o = {}) { return SyntheticTeacher(o, Prompts::load("")); }

TEST(SyntheticTeacher, EvolvesUpDownAndBreadthAsAsked) {
  SyntheticTeacherOptions o;
  o.ill_posed_rate = o.no_change_rate = o.echo_rate = 0;
  SyntheticTeacher t = make(o);
  Prompts p = Prompts::load("");
  auto ps = generate_problems(100, 3, 2, 4);
  for (size_t i = 0; i < ps.size(); ++i) {
    const MathProblem& q = ps[i];
    auto up = parse_problem(t.respond(p.evolve_messages(EvolOp::increase_reasoning, q.question), 0));
    ASSERT_TRUE(up);
    EXPECT_GT(up->n_steps, q.n_steps);
    auto down = parse_problem(t.respond(p.evolve_messages(EvolOp::downward, q.question), 0));
    ASSERT_TRUE(down);
    EXPECT_LT(down->n_steps, q.n_steps);
    auto breadth = parse_problem(t.respond(p.evolve_messages(EvolOp::breadth, q.question), 0));
    ASSERT_TRUE(breadth);
    EXPECT_NE(breadth->template_name, q.template_name);
    auto concrete = parse_problem(t.respond(p.evolve_messages(EvolOp::concretizing, q.question), 0));
    ASSERT_TRUE(concrete);
    // Bigger numbers where the story allows them (ages stay human), else one more step.
    EXPECT_TRUE((concrete->n_steps == q.n_steps && concrete->answer > q.answer) || concrete->n_steps == q.n_steps + 1)
        << concrete->question;
  }
}

TEST(SyntheticTeacher, RepliesAreAFunctionOfPromptSampleAndSeed) {
  SyntheticTeacher t = make();
  Prompts p = Prompts::load("");
  std::string q = generate_problem(9, 3).question;
  Messages m = p.evolve_messages(EvolOp::add_constraints, q);
  EXPECT_EQ(t.respond(m, 0), t.respond(m, 0));
  int differ = 0;
  for (int s = 1; s < 20; ++s) differ += t.respond(m, s) != t.respond(m, 0);
  EXPECT_GT(differ, 10);
  SyntheticTeacherOptions o;
  o.seed = 2;
  SyntheticTeacher t2 = make(o);
  EXPECT_NE(t.model_id(), t2.model_id());
}

TEST(SyntheticTeacher, ControlledShareOfIllPosedEchoedAndUnchanged) {
  SyntheticTeacherOptions o;
  o.ill_posed_rate = 0.2;
  o.no_change_rate = 0.1;
  o.echo_rate = 0.1;
  SyntheticTeacher t = make(o);
  Prompts p = Prompts::load("");
  auto ps = generate_problems(1000, 4, 1, 3);
  int ill = 0, same = 0, echo = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    std::string r = t.respond(p.evolve_messages(EvolOp::add_constraints, ps[i].question), static_cast<int64_t>(i));
    if (r == ps[i].question) ++same;
    else if (r.find("#Rewritten Prompt#") != std::string::npos) ++echo;
    else if (!parse_problem(r)) ++ill;
  }
  EXPECT_NEAR(ill, 200, 45);
  EXPECT_NEAR(same, 100, 35);
  EXPECT_NEAR(echo, 100, 35);
}

TEST(SyntheticTeacher, AnswersJudgesRanksAndLabels) {
  SyntheticTeacherOptions o;
  o.answer_error_rate = 0;
  o.junk_rate = 0;
  o.garbage_rank_rate = 0;
  SyntheticTeacher t = make(o);
  Prompts p = Prompts::load("");
  MathProblem q = generate_problem(21, 3);
  std::string ans = t.respond(p.answer_messages(q.question), 0);
  EXPECT_EQ(ans, q.solution);
  EXPECT_TRUE(answers_match(*extract_answer(ans), std::to_string(q.answer)));
  // A question it cannot solve gets a short apology (elimination rule 2 then drops it).
  MathProblem bad = make_ill_posed(q, MathDefect::missing_quantity, 1);
  EXPECT_NE(t.respond(p.answer_messages(bad.question), 0).find("sorry"), std::string::npos);

  EXPECT_EQ(t.respond(p.equality_messages(q.question, q.question + " "), 0), "Equal");
  EXPECT_EQ(t.respond(p.equality_messages(q.question, bad.question), 0), "Not Equal");

  // Ranking: the ill-posed candidate comes last, the harder valid one first.
  MathProblem harder = *evolve_problem(q, MathEvolution::add_step, 5);
  for (int s = 0; s < 20; ++s) {
    std::string reply = t.respond(p.rank_messages(q.question, {bad.question, q.question, harder.question}), s);
    auto r = parse_ranking(reply, 3);
    ASSERT_TRUE(r) << reply;
    EXPECT_EQ(*r, (std::vector<int>{2, 1, 0})) << reply;
  }

  // Step labels: a corrupted solution is labelled wrong from its error on.
  auto steps = solution_steps(corrupt_solution(q, 1, 3));
  auto labels = parse_step_labels(t.respond(p.judge_messages(q.question, steps), 0), static_cast<int>(steps.size()));
  ASSERT_TRUE(labels);
  EXPECT_EQ((*labels)[0], 1);
  EXPECT_EQ((*labels)[1], 0);
  EXPECT_EQ(labels->back(), 0);
}

TEST(SyntheticTeacher, UnknownPromptsGetAnApology) {
  SyntheticTeacher t = make();
  EXPECT_NE(t.respond({{"user", "Write a poem."}}, 0).find("sorry"), std::string::npos);
  Prompts p = Prompts::load("");
  // Text from outside the domain is returned unchanged (the equality judge then eliminates it).
  std::string gsm = "Natalia sold clips to 48 of her friends in April. How many clips did she sell?";
  EXPECT_EQ(t.respond(p.evolve_messages(EvolOp::deepening, gsm), 0), gsm);
}

}  // namespace
}  // namespace rleif::evol
