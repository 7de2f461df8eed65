// Internal to evol/math_*.cc: the story templates of the built-in math domain and their rendering.
#pragma once
#include <string>
#include <vector>

#include "evol/math_domain.h"

namespace rleif::evol::math_detail {

// Placeholders: {E} this quantity's entity, {P} the previous entity, {a} the first quantity,
// {b} the step's operand, {x} the value before the step, {y} the value after it.
struct OpText {
  std::vector<const char*> phrases;  // question sentence, several wordings
  const char* step;                  // solution sentence
};

struct MathTemplate {
  const char* name;
  const char* intro;     // states entities[0]'s quantity {a}
  OpText ops[4];         // indexed by MathOp
  const char* question;  // asks for the last entity's quantity
  std::vector<const char*> entities;
  bool ordered_entities;  // use entities in list order (ordinals) instead of a random draw
  double weights[4];      // how often each op is drawn (add, sub, mul, div)
  int64_t min_start, max_start;
  int64_t max_value;  // every quantity stays <= this (ages stay human)
};

const std::vector<MathTemplate>& templates();
const MathTemplate* find_template(const std::string& name);

// Fills {name} placeholders from a list of (name, value) pairs.
std::string fill(const char* pattern, const std::vector<std::pair<const char*, std::string>>& values);

// Renders question, steps, solution, answer and n_steps from the structure fields of `p`.
void render(MathProblem& p);

// Recomputes before/after along the chain from `start`; false when a step leaves the domain
// (a non-positive count, an inexact division, a value above the template's max_value).
bool recompute(MathProblem& p, int64_t max_value);

const char* op_symbol(MathOp op);

}  // namespace rleif::evol::math_detail
