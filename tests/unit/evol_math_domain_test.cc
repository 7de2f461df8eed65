// evol/math_domain: generation, evolution, ill-posed variants, parsing back, and the step checker.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/answer.h"
#include "evol/math_domain.h"

namespace rleif::evol {
namespace {

TEST(MathDomain, HandWrittenProblemParsesAndItsStepsCheck) {
  const std::string q =
      "Ava has 12 marbles. Ben has 5 more marbles than Ava. Cara has 3 times as many marbles as Ben. "
      "How many marbles does Cara have?";
  auto p = parse_problem(q);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->template_name, "collections");
  EXPECT_EQ(p->answer, 51);
  EXPECT_EQ(p->n_steps, 2);
  EXPECT_EQ(p->steps, (std::vector<std::string>{"Ben has 12 + 5 = 17 marbles.", "Cara has 17 * 3 = 51 marbles."}));
  EXPECT_EQ(p->solution, "Ben has 12 + 5 = 17 marbles.\nCara has 17 * 3 = 51 marbles.\nThe answer is: 51");

  auto ok = check_steps(q, solution_steps(p->solution));
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->size(), 3u);
  for (auto& v : *ok) EXPECT_TRUE(v.correct) << v.reason;

  // An arithmetic slip in step 1 makes it and everything built on it wrong.
  auto slip = check_steps(q, {"Ben has 12 + 5 = 18 marbles.", "Cara has 18 * 3 = 54 marbles.", "The answer is: 54"});
  ASSERT_TRUE(slip);
  EXPECT_FALSE((*slip)[0].correct);
  EXPECT_NE((*slip)[0].reason.find("12 + 5 = 18 is false"), std::string::npos) << (*slip)[0].reason;
  EXPECT_FALSE((*slip)[1].correct);
  EXPECT_FALSE((*slip)[2].correct);

  // A wrong operation with true arithmetic is caught: 20 is not a quantity of this problem.
  auto wrong_op = check_steps(q, {"Ben has 12 + 5 = 17 marbles.", "Cara has 17 + 3 = 20 marbles.", "The answer is: 20"});
  ASSERT_TRUE(wrong_op);
  EXPECT_TRUE((*wrong_op)[0].correct);
  EXPECT_FALSE((*wrong_op)[1].correct);
  EXPECT_FALSE((*wrong_op)[2].correct);

  // GSM8K calculator annotations and 'x' for multiplication are read; prose without arithmetic is fine.
  auto gsm = check_steps(q, {"First find Ben's marbles.", "Ben: 12+5=<<12+5=17>>17", "Cara: 17 x 3 = 51",
                             "The answer is: 51"});
  ASSERT_TRUE(gsm);
  for (auto& v : *gsm) EXPECT_TRUE(v.correct) << v.reason;

  // A step that uses a number only a wrong step stated is wrong too (the error propagates).
  auto propagated = check_steps(q, {"Ben has 12 + 6 = 17 marbles.", "Cara has 17 * 3 = 51 marbles."});
  ASSERT_TRUE(propagated);
  EXPECT_FALSE((*propagated)[0].correct);
  EXPECT_FALSE((*propagated)[1].correct);

  // The right answer with no work behind it, or after a wrong step, is not a correct step.
  auto answer_only = check_steps(q, {"The answer is: 51"});
  ASSERT_TRUE(answer_only);
  EXPECT_FALSE((*answer_only)[0].correct);
  EXPECT_NE((*answer_only)[0].reason.find("no correct step computed"), std::string::npos) << (*answer_only)[0].reason;
  auto skipped = check_steps(q, {"Ben has 12 + 5 = 17 marbles.", "The answer is: 51"});
  ASSERT_TRUE(skipped);
  EXPECT_TRUE((*skipped)[0].correct);
  EXPECT_FALSE((*skipped)[1].correct);
  auto guessed = check_steps(q, {"Ben has 12 + 5 = 17 marbles.", "Cara has 17 * 3 = 50 marbles.", "The answer is: 51"});
  ASSERT_TRUE(guessed);
  EXPECT_FALSE((*guessed)[1].correct);
  EXPECT_FALSE((*guessed)[2].correct);

  // A number from nowhere makes a step wrong even when its arithmetic holds.
  auto foreign = check_steps(q, {"Ben has 11 + 6 = 17 marbles."});
  ASSERT_TRUE(foreign);
  EXPECT_FALSE((*foreign)[0].correct);
}

TEST(MathDomain, GenerationIsDeterministicAndPrefixStable) {
  auto a = generate_problems(50, 7, 1, 5);
  auto b = generate_problems(80, 7, 1, 5);
  auto c = generate_problems(50, 8, 1, 5);
  ASSERT_EQ(a.size(), 50u);
  int same_as_c = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].question, b[i].question);
    EXPECT_EQ(a[i].solution, b[i].solution);
    same_as_c += a[i].question == c[i].question;
  }
  EXPECT_LT(same_as_c, 3);
}

TEST(MathDomain, GeneratedProblemsAreWellFormed) {
  auto ps = generate_problems(1000, 123, 1, 5);
  std::set<std::string> templates;
  std::map<int, int> steps_seen;
  int small_operands = 0, operands = 0;
  for (const auto& p : ps) {
    SCOPED_TRACE(p.question);
    templates.insert(p.template_name);
    steps_seen[p.n_steps]++;
    ASSERT_TRUE(p.well_posed());
    ASSERT_GE(p.n_steps, 1);
    ASSERT_LE(p.n_steps, 5);
    ASSERT_EQ(p.steps.size(), static_cast<size_t>(p.n_steps));
    ASSERT_GT(p.answer, 0);
    ASSERT_LT(p.answer, 10000);
    auto ans = extract_answer(p.solution);
    ASSERT_TRUE(ans);
    EXPECT_TRUE(answers_match(*ans, std::to_string(p.answer)));
    EXPECT_EQ(p.solution.substr(p.solution.rfind('\n') + 1), "The answer is: " + std::to_string(p.answer));
    for (auto& s : p.chain) {
      ++operands;
      small_operands += s.operand < 100;
    }
    // Rendering is invertible, and the reference solution passes the step checker.
    auto back = parse_problem(p.question);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->solution, p.solution);
    auto verdicts = check_steps(p.question, solution_steps(p.solution));
    ASSERT_TRUE(verdicts);
    for (auto& v : *verdicts) ASSERT_TRUE(v.correct) << v.reason;
    auto j = p.to_json();
    for (const char* k : {"question", "steps", "solution", "answer", "n_steps", "template"}) EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(templates.size(), math_template_names().size());
  for (int n = 1; n <= 5; ++n) EXPECT_GT(steps_seen[n], 100) << n;
  EXPECT_GT(small_operands, operands * 95 / 100);
}

TEST(MathDomain, EvolutionsChangeDifficultyAsNamed) {
  auto ps = generate_problems(300, 99, 2, 4);
  int bigger_ok = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    const MathProblem& p = ps[i];
    SCOPED_TRACE(p.question);
    auto harder = evolve_problem(p, MathEvolution::add_step, i);
    ASSERT_TRUE(harder);
    EXPECT_EQ(harder->n_steps, p.n_steps + 1);
    for (int k = 0; k < p.n_steps; ++k) EXPECT_EQ(harder->steps[static_cast<size_t>(k)], p.steps[static_cast<size_t>(k)]);
    EXPECT_TRUE(parse_problem(harder->question));

    auto easier = evolve_problem(p, MathEvolution::remove_step, i);
    ASSERT_TRUE(easier);
    EXPECT_EQ(easier->n_steps, p.n_steps - 1);
    EXPECT_EQ(easier->steps[0], p.steps[0]);

    if (auto big = evolve_problem(p, MathEvolution::bigger_numbers, i)) {
      ++bigger_ok;
      EXPECT_EQ(big->n_steps, p.n_steps);
      EXPECT_EQ(big->answer % p.answer, 0);
      EXPECT_GE(big->answer / p.answer, 2);
      EXPECT_TRUE(parse_problem(big->question));
    }

    auto breadth = evolve_problem(p, MathEvolution::new_template, i);
    ASSERT_TRUE(breadth);
    EXPECT_NE(breadth->template_name, p.template_name);
    EXPECT_EQ(breadth->n_steps, p.n_steps);

    auto down = evolve_problem(p, MathEvolution::easier_new_template, i);
    ASSERT_TRUE(down);
    EXPECT_NE(down->template_name, p.template_name);
    EXPECT_EQ(down->n_steps, p.n_steps - 1);
  }
  EXPECT_GT(bigger_ok, 150);
  // One step cannot get shorter.
  auto one = generate_problem(5, 1);
  EXPECT_FALSE(evolve_problem(one, MathEvolution::remove_step, 1));
}

TEST(MathDomain, IllPosedVariantsDoNotParseAndSayWhy) {
  auto ps = generate_problems(200, 5, 1, 4);
  for (size_t i = 0; i < ps.size(); ++i) {
    for (MathDefect d : {MathDefect::missing_quantity, MathDefect::contradiction, MathDefect::impossible}) {
      MathProblem bad = make_ill_posed(ps[i], d, i);
      SCOPED_TRACE(bad.question);
      EXPECT_FALSE(bad.well_posed());
      EXPECT_NE(bad.question, ps[i].question);
      EXPECT_FALSE(parse_problem(bad.question));
      EXPECT_FALSE(check_steps(bad.question, {"1 + 1 = 2"}));
      EXPECT_TRUE(bad.solution.empty());
      EXPECT_EQ(bad.to_json()["defect"], enum_name(d));
    }
  }
  MathProblem p = generate_problem(11, 2, "collections");
  MathProblem missing = make_ill_posed(p, MathDefect::missing_quantity, 1);
  EXPECT_NE(missing.question.find(" has some marbles."), std::string::npos) << missing.question;
  MathProblem shop = make_ill_posed(generate_problem(11, 2, "shopping"), MathDefect::missing_quantity, 1);
  EXPECT_NE(shop.question.find(" costs some money."), std::string::npos) << shop.question;
}

TEST(MathDomain, CorruptSolutionsAreCaughtFromTheErrorStepOn) {
  auto ps = generate_problems(300, 17, 1, 5);
  int later = 0, later_wrong = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    const MathProblem& p = ps[i];
    int err = static_cast<int>(i % static_cast<size_t>(p.n_steps));
    std::string bad = corrupt_solution(p, err, i);
    SCOPED_TRACE(p.question + "\n" + bad);
    auto steps = solution_steps(bad);
    ASSERT_EQ(steps.size(), static_cast<size_t>(p.n_steps) + 1);
    auto v = check_steps(p.question, steps);
    ASSERT_TRUE(v);
    for (int k = 0; k < err; ++k) EXPECT_TRUE((*v)[static_cast<size_t>(k)].correct) << k;
    EXPECT_FALSE((*v)[static_cast<size_t>(err)].correct);
    EXPECT_FALSE(v->back().correct) << "the final answer is off";
    EXPECT_FALSE(answers_match(*extract_answer(bad), std::to_string(p.answer)));
    // Steps between the error and the answer line are built on a wrong value; a few can be judged
    // right when that value happens to equal a number of the question.
    for (size_t k = static_cast<size_t>(err) + 1; k + 1 < steps.size(); ++k) ++later, later_wrong += !(*v)[k].correct;
  }
  EXPECT_GT(later, 100);
  EXPECT_GT(later_wrong, later * 95 / 100);
}

TEST(MathDomain, NotThisDomain) {
  EXPECT_FALSE(parse_problem("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
                             "in May. How many clips did Natalia sell altogether in April and May?"));
  EXPECT_FALSE(parse_problem(""));
  EXPECT_THROW(generate_problems(3, 1, 0, 2), Error);
  EXPECT_THROW(generate_problem(1, 2, "weather"), Error);
}

TEST(MathDomain, PinnedOutputForOneSeed) {
  // Pins determinism across compilers and standard libraries (evol/rng.h avoids std:: distributions).
  MathProblem p = generate_problem(2024, 3, "shopping");
  EXPECT_EQ(p.question,
            "A teapot costs $20. A ruler costs 3 times as much as a teapot. A lamp costs the price of a ruler "
            "divided by 2. A scarf costs 4 times as much as a lamp. How many dollars does a scarf cost?");
  EXPECT_EQ(p.solution,
            "A ruler costs 20 * 3 = 60 dollars.\nA lamp costs 60 / 2 = 30 dollars.\nA scarf costs 30 * 4 = 120 "
            "dollars.\nThe answer is: 120");
}

}  // namespace
}  // namespace rleif::evol
