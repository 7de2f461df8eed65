#include "evol/math_domain.h"

#include <algorithm>

#include "core/error.h"
#include "evol/math_templates.h"
#include "evol/rng.h"

namespace rleif::evol {
namespace math_detail {

constexpr int kMaxSteps = 8;

const std::vector<MathTemplate>& templates() {
  static const std::vector<const char*> people{"Ava",  "Ben", "Cara", "Dan",  "Eli",  "Fay",  "Gus",  "Hana",
                                               "Ivan", "Jade", "Kai", "Lena", "Milo", "Nora", "Omar", "Pia"};
  static const std::vector<MathTemplate> t{
      {"collections",
       "{E} has {a} marbles.",
       {{{"{E} has {b} more marbles than {P}.", "{E} collects {b} marbles more than {P} does."},
         "{E} has {x} + {b} = {y} marbles."},
        {{"{E} has {b} fewer marbles than {P}.", "{E} collects {b} marbles less than {P} does."},
         "{E} has {x} - {b} = {y} marbles."},
        {{"{E} has {b} times as many marbles as {P}."}, "{E} has {x} * {b} = {y} marbles."},
        {{"{E} has one share when {P}'s marbles are split equally into {b} shares."}, "{E} has {x} / {b} = {y} marbles."}},
       "How many marbles does {E} have?",
       people,
       false,
       {3, 2, 1.5, 1},
       4,
       60,
       9999},
      {"shopping",
       "A {E} costs ${a}.",
       {{{"A {E} costs ${b} more than a {P}."}, "A {E} costs {x} + {b} = {y} dollars."},
        {{"A {E} costs ${b} less than a {P}."}, "A {E} costs {x} - {b} = {y} dollars."},
        {{"A {E} costs {b} times as much as a {P}."}, "A {E} costs {x} * {b} = {y} dollars."},
        {{"A {E} costs the price of a {P} divided by {b}."}, "A {E} costs {x} / {b} = {y} dollars."}},
       "How many dollars does a {E} cost?",
       {"pencil", "notebook", "ruler", "lunch box", "backpack", "water bottle", "scarf", "jacket", "lamp",
        "board game", "kite", "teapot"},
       false,
       {3, 2, 2, 1},
       2,
       40,
       9999},
      {"sharing",
       "{E} bakes {a} cookies.",
       {{{"{E} bakes {b} more cookies than {P}."}, "{E} has {x} + {b} = {y} cookies."},
        {{"{E} bakes {b} fewer cookies than {P}."}, "{E} has {x} - {b} = {y} cookies."},
        {{"{E} bakes {b} times as many cookies as {P}."}, "{E} has {x} * {b} = {y} cookies."},
        {{"{E} gets one of {b} equal shares of {P}'s cookies.", "{P}'s cookies are shared equally by {b} children, and {E} is one of them."},
         "{E} gets {x} / {b} = {y} cookies."}},
       "How many cookies does {E} have?",
       people,
       false,
       {2, 1, 1, 3},
       6,
       60,
       9999},
      {"rates",
       "The {E} prints {a} pages per minute.",
       {{{"The {E} prints {b} more pages per minute than the {P}."}, "The {E} prints {x} + {b} = {y} pages per minute."},
        {{"The {E} prints {b} fewer pages per minute than the {P}."}, "The {E} prints {x} - {b} = {y} pages per minute."},
        {{"The {E} prints {b} times as many pages per minute as the {P}."},
         "The {E} prints {x} * {b} = {y} pages per minute."},
        {{"The {E} prints at the speed of the {P} divided by {b}."}, "The {E} prints {x} / {b} = {y} pages per minute."}},
       "How many pages per minute does the {E} print?",
       {"first printer", "second printer", "third printer", "fourth printer", "fifth printer", "sixth printer",
        "seventh printer", "eighth printer", "ninth printer", "tenth printer"},
       true,
       {3, 2, 1.5, 1},
       4,
       50,
       9999},
      {"ages",
       "{E} is {a} years old.",
       {{{"{E} is {b} years older than {P}."}, "{E} is {x} + {b} = {y} years old."},
        {{"{E} is {b} years younger than {P}."}, "{E} is {x} - {b} = {y} years old."},
        {{"{E} is {b} times as old as {P}."}, "{E} is {x} * {b} = {y} years old."},
        {{"{E}'s age is {P}'s age divided by {b}."}, "{E} is {x} / {b} = {y} years old."}},
       "How old is {E}?",
       people,
       false,
       {3, 2, 1, 1},
       2,
       30,
       99},
  };
  return t;
}

const MathTemplate* find_template(const std::string& name) {
  for (auto& t : templates())
    if (name == t.name) return &t;
  return nullptr;
}

std::string fill(const char* pattern, const std::vector<std::pair<const char*, std::string>>& values) {
  std::string out;
  for (const char* c = pattern; *c;) {
    if (*c == '{') {
      const char* end = c + 1;
      while (*end && *end != '}') ++end;
      std::string key(c + 1, end);
      bool found = false;
      for (auto& [k, v] : values)
        if (key == k) out += v, found = true;
      if (!found) out += std::string(c, *end ? end + 1 : end);
      c = *end ? end + 1 : end;
    } else {
      out += *c++;
    }
  }
  return out;
}

const char* op_symbol(MathOp op) {
  switch (op) {
    case MathOp::add: return "+";
    case MathOp::sub: return "-";
    case MathOp::mul: return "*";
    case MathOp::div: return "/";
  }
  return "?";
}

bool recompute(MathProblem& p, int64_t max_value) {
  int64_t x = p.start;
  bool ok = x > 0 && x <= max_value;
  for (auto& s : p.chain) {
    s.before = x;
    switch (s.op) {
      case MathOp::add: x += s.operand; break;
      case MathOp::sub: x -= s.operand; break;
      case MathOp::mul: x *= s.operand; break;
      case MathOp::div:
        if (s.operand <= 0 || x % s.operand != 0) ok = false;
        x = s.operand > 0 ? x / s.operand : 0;
        break;
    }
    s.after = x;
    if (x <= 0 || x > max_value) ok = false;
  }
  return ok;
}

void render(MathProblem& p) {
  const MathTemplate* t = find_template(p.template_name);
  RLEIF_CHECK(t, "math domain: unknown template '", p.template_name, "'");
  // fill() leaves unknown placeholders as they are, so {a} survives when the quantity is missing.
  std::string intro = p.defect == MathDefect::missing_quantity
                          ? fill(t->intro, {{"E", p.entities[0]}})
                          : fill(t->intro, {{"E", p.entities[0]}, {"a", std::to_string(p.start)}});
  if (p.defect == MathDefect::missing_quantity) {
    // "A pencil costs ${a}." -> "A pencil costs some money."; "Ava has {a} marbles." -> "Ava has some marbles."
    size_t pos = intro.find("${a}");
    if (pos != std::string::npos) intro.replace(pos, 4, "some money");
    pos = intro.find("{a}");
    if (pos != std::string::npos) intro.replace(pos, 3, "some");
  }
  std::vector<std::string> sentences{intro};
  p.steps.clear();
  for (size_t i = 0; i < p.chain.size(); ++i) {
    const MathStep& s = p.chain[i];
    const OpText& ot = t->ops[static_cast<int>(s.op)];
    const char* phrase = ot.phrases[static_cast<size_t>(s.phrase) % ot.phrases.size()];
    std::vector<std::pair<const char*, std::string>> v{{"E", p.entities[i + 1]}, {"P", p.entities[i]},
                                                       {"b", std::to_string(s.operand)},
                                                       {"x", std::to_string(s.before)},
                                                       {"y", std::to_string(s.after)}};
    sentences.push_back(fill(phrase, v));
    p.steps.push_back(fill(ot.step, v));
  }
  if (p.defect == MathDefect::contradiction)
    sentences.push_back(fill(t->intro, {{"E", p.entities[0]}, {"a", std::to_string(p.restated_start)}}));
  sentences.push_back(fill(t->question, {{"E", p.entities[p.chain.size()]}}));
  std::string q;
  for (auto& s : sentences) q += (q.empty() ? "" : " ") + s;
  p.question = q;
  p.n_steps = static_cast<int>(p.chain.size());
  if (p.well_posed()) {
    p.answer = p.chain.empty() ? p.start : p.chain.back().after;
    p.solution.clear();
    for (auto& s : p.steps) p.solution += s + "\n";
    p.solution += "The answer is: " + std::to_string(p.answer);
  } else {
    p.steps.clear();
    p.solution.clear();
    p.answer = 0;
  }
}

namespace {

// Draws the next relation from `x`: an op allowed from x (by template weights) and its operand.
MathStep draw_step(const MathTemplate& t, int64_t x, Rng& rng) {
  std::vector<int64_t> divisors;
  for (int64_t d = 2; d <= 12 && d < x; ++d)
    if (x % d == 0) divisors.push_back(d);
  double w[4] = {t.weights[0], t.weights[1], t.weights[2], t.weights[3]};
  if (x + 2 > t.max_value) w[0] = 0;
  if (x < 3) w[1] = 0;
  if (x * 2 > t.max_value || x > 250) w[2] = 0;
  if (divisors.empty()) w[3] = 0;
  if (w[0] + w[1] + w[2] + w[3] == 0) w[1] = 1;  // x is near max_value: subtracting always fits
  MathStep s;
  s.op = static_cast<MathOp>(rng.weighted({w[0], w[1], w[2], w[3]}));
  switch (s.op) {
    case MathOp::add: s.operand = rng.uniform(2, std::min<int64_t>(30, t.max_value - x)); break;
    case MathOp::sub: s.operand = rng.uniform(1, std::min<int64_t>(40, x - 1)); break;
    case MathOp::mul: {
      int64_t hi = std::min<int64_t>(5, t.max_value / x);
      s.operand = rng.uniform(2, hi);
      break;
    }
    case MathOp::div: s.operand = divisors[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(divisors.size()) - 1))]; break;
  }
  s.phrase = static_cast<int>(rng.uniform(0, static_cast<int64_t>(t.ops[static_cast<int>(s.op)].phrases.size()) - 1));
  return s;
}

// Picks a fresh entity not used yet in `p` (ordinal templates take the next in order).
std::string next_entity(const MathTemplate& t, const std::vector<std::string>& used, Rng& rng) {
  std::vector<const char*> free;
  for (auto* e : t.entities)
    if (std::find(used.begin(), used.end(), e) == used.end()) free.push_back(e);
  if (free.empty()) return "";
  if (t.ordered_entities) return free.front();
  return free[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(free.size()) - 1))];
}

void append_step(MathProblem& p, const MathTemplate& t, Rng& rng) {
  int64_t x = p.chain.empty() ? p.start : p.chain.back().after;
  MathStep s = draw_step(t, x, rng);
  p.entities.push_back(next_entity(t, p.entities, rng));
  p.chain.push_back(s);
  recompute(p, t.max_value);
}

}  // namespace
}  // namespace math_detail

using namespace math_detail;

json MathProblem::to_json() const {
  json j{{"question", question}, {"steps", steps},   {"solution", solution},
         {"answer", answer},     {"n_steps", n_steps}, {"template", template_name}};
  if (!well_posed()) j["defect"] = enum_name(defect);
  return j;
}

const std::vector<std::string>& math_template_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (auto& t : templates()) n.push_back(t.name);
    return n;
  }();
  return names;
}

MathProblem generate_problem(uint64_t seed, int n_steps, const std::string& template_name) {
  RLEIF_CHECK(n_steps >= 1 && n_steps <= kMaxSteps, "math domain: n_steps must be in [1, ", kMaxSteps, "], got ",
              n_steps);
  Rng rng(hash_combine(seed, 0x6d617468));
  const MathTemplate* t = template_name.empty()
                              ? &templates()[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(templates().size()) - 1))]
                              : find_template(template_name);
  RLEIF_CHECK(t, "math domain: unknown template '", template_name, "'; expected one of ",
              join(math_template_names(), ", "));
  MathProblem p;
  p.template_name = t->name;
  p.start = rng.uniform(t->min_start, t->max_start);
  p.entities.push_back(next_entity(*t, {}, rng));
  for (int i = 0; i < n_steps; ++i) append_step(p, *t, rng);
  render(p);
  return p;
}

std::vector<MathProblem> generate_problems(int64_t n, uint64_t seed, int min_steps, int max_steps) {
  RLEIF_CHECK(n >= 0, "math domain: problem count must be >= 0, got ", n);
  RLEIF_CHECK(min_steps >= 1 && min_steps <= max_steps && max_steps <= kMaxSteps,
              "math domain: need 1 <= min_steps <= max_steps <= ", kMaxSteps, ", got ", min_steps, " and ", max_steps);
  std::vector<MathProblem> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t s = hash_combine(seed, static_cast<uint64_t>(i));
    Rng rng(s);
    int steps = static_cast<int>(rng.uniform(min_steps, max_steps));
    out.push_back(generate_problem(s, steps));
  }
  return out;
}

std::optional<MathProblem> evolve_problem(const MathProblem& src, MathEvolution kind, uint64_t seed) {
  RLEIF_CHECK(src.well_posed(), "math domain: only a well-posed problem can be evolved");
  const MathTemplate* t = find_template(src.template_name);
  RLEIF_CHECK(t, "math domain: unknown template '", src.template_name, "'");
  Rng rng(hash_combine(seed, 0x65766f6c, static_cast<uint64_t>(kind)));
  MathProblem p = src;
  switch (kind) {
    case MathEvolution::add_step: {
      if (p.n_steps >= kMaxSteps || p.entities.size() >= t->entities.size()) return std::nullopt;
      append_step(p, *t, rng);
      break;
    }
    case MathEvolution::bigger_numbers: {
      // Scaling the first quantity and every additive operand by k scales every quantity by k,
      // so subtractions stay positive and divisions stay exact.
      for (int64_t k = rng.uniform(2, 4); k >= 2; --k) {
        MathProblem q = src;
        q.start *= k;
        for (auto& s : q.chain)
          if (s.op == MathOp::add || s.op == MathOp::sub) s.operand *= k;
        if (recompute(q, t->max_value)) {
          p = q;
          break;
        }
        if (k == 2) return std::nullopt;
      }
      break;
    }
    case MathEvolution::remove_step: {
      if (p.n_steps < 2) return std::nullopt;
      p.chain.pop_back();
      p.entities.pop_back();
      break;
    }
    case MathEvolution::new_template:
    case MathEvolution::easier_new_template: {
      const auto& names = math_template_names();
      std::vector<std::string> others;
      for (auto& n : names)
        if (n != src.template_name) others.push_back(n);
      std::string name = others[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(others.size()) - 1))];
      int steps = kind == MathEvolution::new_template ? src.n_steps : std::max(1, src.n_steps - 1);
      p = generate_problem(rng.next(), steps, name);
      if (kind == MathEvolution::easier_new_template) {
        // Small numbers: halve the first quantity while every step stays in the domain.
        MathProblem q = p;
        q.start = std::max<int64_t>(2, q.start / 2);
        if (recompute(q, find_template(name)->max_value)) p = q;
      }
      break;
    }
  }
  p.defect = MathDefect::none;
  render(p);
  return p;
}

MathProblem make_ill_posed(const MathProblem& src, MathDefect defect, uint64_t seed) {
  RLEIF_CHECK(src.well_posed(), "math domain: make_ill_posed needs a well-posed problem");
  RLEIF_CHECK(defect != MathDefect::none, "math domain: make_ill_posed needs a defect other than none");
  Rng rng(hash_combine(seed, 0x696c6c, static_cast<uint64_t>(defect)));
  MathProblem p = src;
  p.defect = defect;
  if (defect == MathDefect::contradiction) {
    p.restated_start = p.start + rng.uniform(1, 9);
  } else if (defect == MathDefect::impossible) {
    // The last relation takes away more than there is.
    MathStep& s = p.chain.back();
    s.op = MathOp::sub;
    s.operand = s.before + rng.uniform(1, 10);
    s.after = s.before - s.operand;
  }
  render(p);
  return p;
}

std::string corrupt_solution(const MathProblem& p, int error_step, uint64_t seed) {
  RLEIF_CHECK(p.well_posed(), "math domain: corrupt_solution needs a well-posed problem");
  RLEIF_CHECK(error_step >= 0 && error_step < p.n_steps, "math domain: error_step ", error_step,
              " is outside [0, ", p.n_steps, ")");
  const MathTemplate* t = find_template(p.template_name);
  Rng rng(hash_combine(seed, 0x6572726f72, static_cast<uint64_t>(error_step)));
  const size_t e = static_cast<size_t>(error_step);
  // Later steps are rewritten on the wrong value; they stay exact (a student divides what they have)
  // and the wrong value stays above the true one, so every later quantity differs from the truth.
  auto run_from = [&](std::vector<MathStep> chain, int64_t wrong) -> std::optional<std::vector<MathStep>> {
    chain[e].after = wrong;
    for (size_t i = e + 1; i < chain.size(); ++i) {
      MathStep& s = chain[i];
      s.before = chain[i - 1].after;
      if (s.op == MathOp::div && s.before % s.operand != 0) return std::nullopt;
      s.after = s.op == MathOp::add ? s.before + s.operand : s.op == MathOp::sub ? s.before - s.operand
                : s.op == MathOp::mul ? s.before * s.operand : s.before / s.operand;
    }
    return chain;
  };
  std::optional<std::vector<MathStep>> chain;
  if (rng.bernoulli(0.5)) {
    // A wrong operation with true arithmetic: + becomes *, - and / become +, * becomes +.
    std::vector<MathStep> c = p.chain;
    MathStep& s = c[e];
    s.op = s.op == MathOp::add ? MathOp::mul : MathOp::add;
    int64_t alt = s.op == MathOp::mul ? s.before * s.operand : s.before + s.operand;
    if (alt > p.chain[e].after) chain = run_from(c, alt);
  }
  if (!chain) {
    // An arithmetic slip: the stated result is too big by a multiple of every later divisor.
    int64_t unit = 1;
    for (size_t i = e + 1; i < p.chain.size(); ++i)
      if (p.chain[i].op == MathOp::div) unit *= p.chain[i].operand;
    chain = run_from(p.chain, p.chain[e].after + unit * rng.uniform(1, 5));
  }
  std::string text;
  for (size_t i = 0; i < chain->size(); ++i) {
    const MathStep& s = (*chain)[i];
    text += fill(t->ops[static_cast<int>(s.op)].step, {{"E", p.entities[i + 1]},
                                                       {"P", p.entities[i]},
                                                       {"b", std::to_string(s.operand)},
                                                       {"x", std::to_string(s.before)},
                                                       {"y", std::to_string(s.after)}}) +
            "\n";
  }
  return text + "The answer is: " + std::to_string(chain->back().after);
}

}  // namespace rleif::evol
