// Reading problems back (parse_problem) and judging solution steps (check_steps).
#include <algorithm>
#include <regex>
#include <set>

#include "core/answer.h"
#include "core/strings.h"
#include "evol/math_domain.h"
#include "evol/math_templates.h"

namespace rleif::evol {
namespace math_detail {
namespace {

// A template sentence compiled to an anchored regex; slots name each capture group (E, P, a, b).
struct Pattern {
  std::regex re;
  std::string slots;
};

Pattern compile(const char* text) {
  std::string re = "^", slots;
  for (const char* c = text; *c; ++c) {
    if (*c == '{' && c[1] && c[2] == '}') {
      char k = c[1];
      re += (k == 'a' || k == 'b') ? "(\\d+)" : "(.+?)";
      slots += k;
      c += 2;
    } else {
      if (std::string("\\^$.|?*+()[]{}").find(*c) != std::string::npos) re += '\\';
      re += *c;
    }
  }
  return {std::regex(re + "$"), slots};
}

struct CompiledTemplate {
  const MathTemplate* t;
  Pattern intro, question;
  std::vector<std::vector<Pattern>> ops;  // [op][phrase]
};

const std::vector<CompiledTemplate>& compiled() {
  static const std::vector<CompiledTemplate> c = [] {
    std::vector<CompiledTemplate> out;
    for (auto& t : templates()) {
      CompiledTemplate ct{&t, compile(t.intro), compile(t.question), {}};
      for (auto& op : t.ops) {
        std::vector<Pattern> ps;
        for (auto* ph : op.phrases) ps.push_back(compile(ph));
        ct.ops.push_back(std::move(ps));
      }
      out.push_back(std::move(ct));
    }
    return out;
  }();
  return c;
}

// Matches `s` and returns the captures by slot letter.
bool match(const Pattern& p, const std::string& s, std::string& E, std::string& P, int64_t& num) {
  std::smatch m;
  if (!std::regex_match(s, m, p.re)) return false;
  for (size_t i = 0; i < p.slots.size(); ++i) {
    std::string v = m[i + 1].str();
    switch (p.slots[i]) {
      case 'E': E = v; break;
      case 'P': P = v; break;
      default:
        if (v.size() > 9) return false;
        num = std::stoll(v);
    }
  }
  return true;
}

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < text.size(); ++i) {
    cur += text[i];
    bool end = (text[i] == '.' || text[i] == '?') && (i + 1 == text.size() || text[i + 1] == ' ');
    if (end) {
      out.push_back(trim(cur));
      cur.clear();
    }
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
  return out;
}

// Arithmetic on exact rationals, with overflow reported as nullopt.
using R = Rational;
std::optional<R> make(__int128 n, __int128 d) {
  if (d == 0) return std::nullopt;
  if (d < 0) n = -n, d = -d;
  __int128 a = n < 0 ? -n : n, b = d;
  while (b) {
    __int128 t = a % b;
    a = b, b = t;
  }
  if (a > 1) n /= a, d /= a;
  if (n > INT64_MAX || n < -INT64_MAX || d > INT64_MAX) return std::nullopt;
  return R{static_cast<int64_t>(n), static_cast<int64_t>(d)};
}
std::optional<R> apply(const R& x, char op, const R& y) {
  __int128 xn = x.num, xd = x.den, yn = y.num, yd = y.den;
  switch (op) {
    case '+': return make(xn * yd + yn * xd, xd * yd);
    case '-': return make(xn * yd - yn * xd, xd * yd);
    case '*': return make(xn * yn, xd * yd);
    default: return make(xn * yd, xd * yn);
  }
}

struct Token {
  char kind;  // 'n' number, 'o' operator, '=' equals, ' ' anything else
  char op = 0;
  R value;
  std::string text;
};

std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isdigit(c)) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) ||
                              ((s[j] == ',' || s[j] == '.') && j + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[j + 1])))))
        ++j;
      std::string text = s.substr(i, j - i);
      if (auto v = parse_number(text)) out.push_back({'n', 0, *v, text});
      else out.push_back({' ', 0, {}, text});
      i = j;
    } else if (c == '+' || c == '-' || c == '*' || c == '/') {
      out.push_back({'o', static_cast<char>(c), {}, std::string(1, static_cast<char>(c))});
      ++i;
    } else if (c == 'x' && i > 0 && s[i - 1] == ' ' && i + 1 < s.size() && s[i + 1] == ' ') {
      out.push_back({'o', '*', {}, "x"});
      ++i;
    } else if (s.compare(i, 2, "\xC3\x97") == 0) {  // U+00D7 multiplication sign
      out.push_back({'o', '*', {}, "\xC3\x97"});
      i += 2;
    } else if (s.compare(i, 2, "\xC3\xB7") == 0) {  // U+00F7 division sign
      out.push_back({'o', '/', {}, "\xC3\xB7"});
      i += 2;
    } else if (c == '=') {
      out.push_back({'=', 0, {}, "="});
      ++i;
    } else if (c == ' ' || c == '$') {
      ++i;  // spaces and currency signs do not break "12 + 5 = 17" or "$12 * 3 = $36"
    } else {
      out.push_back({' ', 0, {}, std::string(1, static_cast<char>(c))});
      ++i;
    }
  }
  return out;
}

struct Equation {
  std::vector<R> operands;
  std::vector<char> ops;
  R result;
  std::string text;
};

std::vector<Equation> find_equations(const std::string& s) {
  std::vector<Token> tok = tokenize(s);
  std::vector<Equation> out;
  for (size_t i = 1; i + 1 < tok.size(); ++i) {
    if (tok[i].kind != '=' || tok[i + 1].kind != 'n') continue;
    // Walk back over NUM (OP NUM)* ending right before '='.
    if (tok[i - 1].kind != 'n') continue;
    size_t b = i - 1;
    while (b >= 2 && tok[b - 1].kind == 'o' && tok[b - 2].kind == 'n') b -= 2;
    Equation e;
    for (size_t k = b; k < i; ++k) {
      if (tok[k].kind == 'n') e.operands.push_back(tok[k].value);
      else e.ops.push_back(tok[k].op);
      e.text += (e.text.empty() ? "" : " ") + tok[k].text;
    }
    if (e.ops.empty()) continue;
    e.result = tok[i + 1].value;
    e.text += " = " + tok[i + 1].text;
    out.push_back(std::move(e));
  }
  return out;
}

// Evaluates operands/ops with * and / before + and -.
std::optional<R> evaluate(const Equation& e) {
  std::vector<R> terms{e.operands[0]};
  std::vector<char> adds;
  for (size_t k = 0; k < e.ops.size(); ++k) {
    char op = e.ops[k];
    if (op == '*' || op == '/') {
      if (op == '/' && e.operands[k + 1].num == 0) return std::nullopt;
      auto v = apply(terms.back(), op, e.operands[k + 1]);
      if (!v) return std::nullopt;
      terms.back() = *v;
    } else {
      adds.push_back(op);
      terms.push_back(e.operands[k + 1]);
    }
  }
  R acc = terms[0];
  for (size_t k = 0; k < adds.size(); ++k) {
    auto v = apply(acc, adds[k], terms[k + 1]);
    if (!v) return std::nullopt;
    acc = *v;
  }
  return acc;
}

std::string show(const R& r) { return r.den == 1 ? std::to_string(r.num) : std::to_string(r.num) + "/" + std::to_string(r.den); }

}  // namespace
}  // namespace math_detail

using namespace math_detail;

std::optional<MathProblem> parse_problem(std::string_view question) {
  std::vector<std::string> s = split_sentences(question);
  if (s.size() < 3 || s.back().empty() || s.back().back() != '?') return std::nullopt;
  for (const CompiledTemplate& ct : compiled()) {
    std::string E, P;
    int64_t num = 0;
    if (!match(ct.intro, s[0], E, P, num)) continue;
    MathProblem p;
    p.template_name = ct.t->name;
    p.entities.push_back(E);
    p.start = num;
    bool ok = true;
    for (size_t i = 1; ok && i + 1 < s.size(); ++i) {
      bool found = false;
      for (int op = 0; op < 4 && !found; ++op) {
        for (size_t ph = 0; ph < ct.ops[static_cast<size_t>(op)].size() && !found; ++ph) {
          std::string e, prev;
          if (!match(ct.ops[static_cast<size_t>(op)][ph], s[i], e, prev, num)) continue;
          if (prev != p.entities.back()) continue;
          if (std::find(p.entities.begin(), p.entities.end(), e) != p.entities.end()) continue;
          MathStep st;
          st.op = static_cast<MathOp>(op);
          st.operand = num;
          st.phrase = static_cast<int>(ph);
          p.chain.push_back(st);
          p.entities.push_back(e);
          found = true;
        }
      }
      ok = found;  // an unmatched sentence (a restated quantity, other text) ends the parse
    }
    if (!ok || p.chain.empty()) continue;
    if (!match(ct.question, s.back(), E, P, num) || E != p.entities.back()) continue;
    if (!recompute(p, ct.t->max_value)) return std::nullopt;
    render(p);
    if (p.question != question) continue;
    return p;
  }
  return std::nullopt;
}

std::vector<std::string> solution_steps(std::string_view solution) {
  std::vector<std::string> out;
  for (auto& line : split(solution, '\n')) {
    std::string t = trim(line);
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

std::optional<std::vector<StepVerdict>> check_steps(std::string_view question, const std::vector<std::string>& steps) {
  auto p = parse_problem(question);
  if (!p) return std::nullopt;
  std::set<std::pair<int64_t, int64_t>> known, expected;
  for (const Token& t : tokenize(std::string(question)))
    if (t.kind == 'n') known.insert({t.value.num, t.value.den});
  for (const MathStep& s : p->chain) expected.insert({s.after, 1});
  std::set<std::pair<int64_t, int64_t>> derived;  // results of correct equations so far
  std::vector<StepVerdict> out;
  for (const std::string& step : steps) {
    StepVerdict v{true, ""};
    std::vector<Equation> eqs = find_equations(step);
    std::vector<R> results;
    for (const Equation& e : eqs) {
      for (const R& x : e.operands) {
        if (!known.count({x.num, x.den})) {
          v = {false, str("uses ", show(x), ", which is neither in the question nor a correct earlier result")};
          break;
        }
      }
      if (!v.correct) break;
      auto val = evaluate(e);
      if (!val || *val != e.result) {
        v = {false, str(e.text, " is false")};
        break;
      }
      if (!expected.count({e.result.num, e.result.den})) {
        v = {false, str(show(e.result), " is not one of the quantities the problem builds on")};
        break;
      }
      results.push_back(e.result);
    }
    if (v.correct && eqs.empty()) {
      std::string lower = step;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.find("answer is") != std::string::npos) {
        auto ans = extract_answer(step);
        auto num = ans ? parse_number(*ans) : std::nullopt;
        if (!num || *num != R{p->answer, 1})
          v = {false, str("states the answer ", ans ? *ans : std::string("(none)"), " but the answer is ", p->answer)};
        else if (!derived.count({p->answer, 1}))
          v = {false, str("states the answer ", p->answer, ", which no correct step computed")};
      }
    }
    if (v.correct)
      for (const R& r : results) known.insert({r.num, r.den}), derived.insert({r.num, r.den});
    out.push_back(v);
  }
  return out;
}

}  // namespace rleif::evol
