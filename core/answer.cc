#include "core/answer.h"

#include <cctype>

#include "core/strings.h"

namespace rleif {
namespace {

using i128 = __int128;
constexpr int64_t kMax = INT64_MAX;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Case-insensitive rfind of an ASCII needle.
size_t rfind_ci(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    bool ok = true;
    for (size_t j = 0; j < needle.size() && ok; ++j)
      ok = std::tolower(static_cast<unsigned char>(hay[i + j])) == std::tolower(static_cast<unsigned char>(needle[j]));
    if (ok) return i;
  }
  return std::string_view::npos;
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool consume(std::string_view& s, std::string_view prefix) {
  if (!starts_with(s, prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// Removes LaTeX wrappers a model may put around a final answer: $...$, \(...\), \boxed{...}.
std::string_view unwrap(std::string_view s) {
  while (true) {
    s = strip(s);
    if (s.size() >= 2 && s.front() == '$' && s.back() == '$') {
      s = s.substr(1, s.size() - 2);
    } else if (starts_with(s, "\\(") && ends_with(s, "\\)")) {
      s = s.substr(2, s.size() - 4);
    } else if (starts_with(s, "\\boxed{") && s.back() == '}') {
      s = s.substr(7, s.size() - 8);
    } else {
      return s;
    }
  }
}

std::optional<Rational> make_rational(i128 num, i128 den) {
  if (den == 0) return std::nullopt;
  if (den < 0) num = -num, den = -den;
  i128 a = num < 0 ? -num : num, b = den;
  while (b != 0) {
    i128 t = a % b;
    a = b, b = t;
  }
  if (a > 1) num /= a, den /= a;
  if (num > kMax || num < -kMax || den > kMax) return std::nullopt;
  return Rational{static_cast<int64_t>(num), static_cast<int64_t>(den)};
}

// Reads digits (with thousands commas between digits when allow_commas) into `v`, counting them;
// false on overflow.
bool read_digits(std::string_view& s, i128& v, int& count, bool allow_commas) {
  count = 0;
  while (!s.empty()) {
    char c = s.front();
    if (is_digit(c)) {
      if (v > static_cast<i128>(kMax)) return false;
      v = v * 10 + (c - '0');
      ++count;
    } else if (c == ',' && allow_commas && count > 0 && s.size() > 1 && is_digit(s[1])) {
      // a thousands separator
    } else {
      break;
    }
    s.remove_prefix(1);
  }
  return true;
}

// Parses [sign][$]digits[,ddd][.digits][/digits][%] and nothing else.
std::optional<Rational> parse_plain(std::string_view s) {
  s = strip(s);
  bool neg = false;
  consume(s, "$");
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) neg = s.front() == '-', s.remove_prefix(1);
  consume(s, "$");
  s = strip(s);
  i128 num = 0, den = 1;
  int int_digits = 0, frac_digits = 0;
  if (!read_digits(s, num, int_digits, true)) return std::nullopt;
  if (!s.empty() && s.front() == '.' && s.size() > 1 && is_digit(s[1])) {
    s.remove_prefix(1);
    i128 frac = 0;
    if (!read_digits(s, frac, frac_digits, false) || frac_digits > 18) return std::nullopt;
    for (int i = 0; i < frac_digits; ++i) num *= 10, den *= 10;
    num += frac;
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  if (!s.empty() && s.front() == '/') {
    s.remove_prefix(1);
    i128 d = 0;
    int d_digits = 0;
    if (!read_digits(s, d, d_digits, true) || d_digits == 0) return std::nullopt;
    den *= d;
  }
  if (consume(s, "%")) den *= 100;
  consume(s, ".");
  if (!strip(s).empty()) return std::nullopt;
  if (num > static_cast<i128>(kMax) || den > static_cast<i128>(kMax)) return std::nullopt;
  return make_rational(neg ? -num : num, den);
}

// "\frac{a}{b}" (also \dfrac, \tfrac), optionally signed; a and b are plain numbers.
std::optional<Rational> parse_latex_frac(std::string_view s) {
  s = strip(s);
  bool neg = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) neg = s.front() == '-', s.remove_prefix(1);
  if (!(consume(s, "\\frac{") || consume(s, "\\dfrac{") || consume(s, "\\tfrac{"))) return std::nullopt;
  size_t close = s.find('}');
  if (close == std::string_view::npos) return std::nullopt;
  auto a = parse_plain(s.substr(0, close));
  s.remove_prefix(close + 1);
  if (!consume(s, "{")) return std::nullopt;
  close = s.find('}');
  if (close == std::string_view::npos || !strip(s.substr(close + 1)).empty()) return std::nullopt;
  auto b = parse_plain(s.substr(0, close));
  if (!a || !b || b->num == 0) return std::nullopt;
  i128 num = static_cast<i128>(a->num) * b->den, den = static_cast<i128>(a->den) * b->num;
  return make_rational(neg ? -num : num, den);
}

// The first number token in `s` ("-1,000.5", "3/4", "$12"), without '$' and trailing punctuation.
std::optional<std::string> first_number_token(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    bool starts = is_digit(s[i]) || (s[i] == '.' && i + 1 < s.size() && is_digit(s[i + 1]));
    if (!starts) continue;
    size_t b = i;
    if (b > 0 && s[b - 1] == '$') --b;
    bool neg = b > 0 && s[b - 1] == '-';
    bool pos = b > 0 && s[b - 1] == '+';
    size_t e = i;
    while (e < s.size() && (is_digit(s[e]) || ((s[e] == ',' || s[e] == '.' || s[e] == '/') && e + 1 < s.size() && is_digit(s[e + 1]))))
      ++e;
    std::string tok(s.substr(i, e - i));
    if (neg) tok = "-" + tok;
    if (pos) tok = "+" + tok;
    return tok;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> extract_answer(std::string_view text) {
  size_t p1 = rfind_ci(text, "the answer is");
  size_t p2 = text.rfind("####");
  size_t start;
  if (p1 == std::string_view::npos && p2 == std::string_view::npos) return std::nullopt;
  if (p2 == std::string_view::npos || (p1 != std::string_view::npos && p1 > p2))
    start = p1 + 13;
  else
    start = p2 + 4;
  std::string_view rest = text.substr(start);
  size_t nl = rest.find('\n');
  if (nl != std::string_view::npos) rest = rest.substr(0, nl);
  rest = strip(rest);
  consume(rest, ":");
  rest = strip(rest);
  if (rest.empty()) return std::nullopt;
  std::string_view inner = unwrap(rest);
  if (ends_with(inner, ".")) inner = unwrap(inner.substr(0, inner.size() - 1));
  if (auto r = parse_latex_frac(inner)) {
    // Keep the value as a plain fraction so downstream comparison needs no LaTeX.
    return std::to_string(r->num) + "/" + std::to_string(r->den);
  }
  size_t frac = inner.find("frac{");
  size_t digit = inner.find_first_of("0123456789");
  if (frac != std::string_view::npos && frac < digit) {
    // A LaTeX expression such as "\frac{\sqrt{3}}{2}": return it whole, not its first digit.
    return std::string(inner);
  }
  if (auto tok = first_number_token(inner)) return tok;
  std::string out(strip(inner));
  while (!out.empty() && (out.back() == '.' || out.back() == ',')) out.pop_back();
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<Rational> parse_number(std::string_view answer) {
  std::string_view s = unwrap(answer);
  if (ends_with(s, ".")) s = unwrap(s.substr(0, s.size() - 1));
  if (auto r = parse_latex_frac(s)) return r;
  return parse_plain(s);
}

std::string normalize_answer(std::string_view answer) {
  if (auto r = parse_number(answer)) {
    return r->den == 1 ? std::to_string(r->num) : std::to_string(r->num) + "/" + std::to_string(r->den);
  }
  std::string out;
  for (char c : unwrap(answer)) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '$') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool answers_match(std::string_view predicted, std::string_view truth) {
  auto p = parse_number(predicted), t = parse_number(truth);
  if (p && t) return *p == *t;
  if (p || t) return false;
  std::string a = normalize_answer(predicted), b = normalize_answer(truth);
  return !a.empty() && a == b;
}

}  // namespace rleif
