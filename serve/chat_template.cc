#include "serve/chat_template.h"
#include "core/strings.h"
#include "serve/chat_template_ast.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>


namespace rleif::serve {

namespace {

// ---- expression lexer -------------------------------------------------------------------------
enum class Tok { name, str, num, op, end };
struct Token {
  Tok kind;
  std::string text;
  json value;
};

std::vector<Token> lex(const std::string& s, const std::string& where) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::name, s.substr(i, j - i), {}});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool flt = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || (s[j] == '.' && !flt))) flt |= s[j++] == '.';
      const std::string t = s.substr(i, j - i);
      json value;
      if (flt) {
        value = std::strtod(t.c_str(), nullptr);  // overflow gives inf, as Python's float() does
      } else {
        errno = 0;
        const long long v = std::strtoll(t.c_str(), nullptr, 10);
        RLEIF_CHECK(errno != ERANGE, where, ": integer literal ", t, " is out of range (at most 19 digits) in '", s, "'");
        value = static_cast<int64_t>(v);
      }
      out.push_back({Tok::num, t, value});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          v += s[j];
        }
      }
      RLEIF_CHECK(j < s.size(), where, ": unterminated string in '", s, "'");
      out.push_back({Tok::str, v, json(v)});
      i = j + 1;
    } else {
      static const char* two[] = {"==", "!=", "<=", ">=", "//"};
      std::string op(1, c);
      for (const char* t : two)
        if (s.compare(i, 2, t) == 0) op = t;
      RLEIF_CHECK(std::string("()[]{}.,:|+-*/%~<>=!").find(c) != std::string::npos, where, ": unexpected '", c,
                  "' in '", s, "'");
      out.push_back({Tok::op, op, {}});
      i += op.size();
    }
  }
  out.push_back({Tok::end, "", {}});
  return out;
}

ExprP mk(Expr::Kind k, std::string name = {}) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->name = std::move(name);
  return e;
}

class Parser {
 public:
  Parser(const std::string& src, const std::string& where) : t_(lex(src, where)), src_(src), where_(where) {}
  ExprP parse_all() {
    auto e = expr();
    expect_end();
    return e;
  }
  const Token& peek() const { return t_[p_]; }
  bool at_name(const char* n) const { return t_[p_].kind == Tok::name && t_[p_].text == n; }
  bool at_op(const char* o) const { return t_[p_].kind == Tok::op && t_[p_].text == o; }
  std::string take_name() {
    RLEIF_CHECK(peek().kind == Tok::name, where_, ": expected a name in '", src_, "'");
    return t_[p_++].text;
  }
  void expect_op(const char* o) {
    RLEIF_CHECK(at_op(o), where_, ": expected '", o, "' in '", src_, "'");
    ++p_;
  }
  void expect_name(const char* n) {
    RLEIF_CHECK(at_name(n), where_, ": expected '", n, "' in '", src_, "'");
    ++p_;
  }
  void expect_end() { RLEIF_CHECK(peek().kind == Tok::end, where_, ": unexpected '", peek().text, "' in '", src_, "'"); }

  ExprP expr() {
    auto e = or_expr();
    if (at_name("if")) {
      ++p_;
      auto c = mk(Expr::cond);
      auto test = or_expr();
      ExprP other = mk(Expr::literal);
      other->value = undefined_value();
      if (at_name("else")) ++p_, other = expr();
      c->kids.push_back(std::move(test));
      c->kids.push_back(std::move(e));
      c->kids.push_back(std::move(other));
      return c;
    }
    return e;
  }

 private:
  ExprP bin(const std::string& op, ExprP a, ExprP b) {
    auto e = mk(Expr::binary, op);
    e->kids.push_back(std::move(a));
    e->kids.push_back(std::move(b));
    return e;
  }
  ExprP or_expr() {
    auto e = and_expr();
    while (at_name("or")) ++p_, e = bin("or", std::move(e), and_expr());
    return e;
  }
  ExprP and_expr() {
    auto e = not_expr();
    while (at_name("and")) ++p_, e = bin("and", std::move(e), not_expr());
    return e;
  }
  ExprP not_expr() {
    if (at_name("not")) {
      ++p_;
      auto e = mk(Expr::unary, "not");
      e->kids.push_back(not_expr());
      return e;
    }
    return compare();
  }
  ExprP compare() {
    auto e = additive();
    while (true) {
      if (peek().kind == Tok::op && (at_op("==") || at_op("!=") || at_op("<") || at_op(">") || at_op("<=") || at_op(">="))) {
        const std::string op = t_[p_++].text;
        e = bin(op, std::move(e), additive());
      } else if (at_name("in")) {
        ++p_;
        e = bin("in", std::move(e), additive());
      } else if (at_name("not") && t_[p_ + 1].kind == Tok::name && t_[p_ + 1].text == "in") {
        p_ += 2;
        e = bin("not in", std::move(e), additive());
      } else if (at_name("is")) {
        ++p_;
        bool neg = false;
        if (at_name("not")) ++p_, neg = true;
        auto t = mk(Expr::test, take_name());
        t->kids.push_back(std::move(e));
        if (at_op("(")) args(*t);
        else if (peek().kind == Tok::str || peek().kind == Tok::num) t->kids.push_back(primary());
        if (neg) {
          e = mk(Expr::unary, "not");
          e->kids.push_back(std::move(t));
        } else {
          e = std::move(t);
        }
      } else {
        return e;
      }
    }
  }
  ExprP additive() {
    auto e = multiplicative();
    while (at_op("+") || at_op("-") || at_op("~")) {
      const std::string op = t_[p_++].text;
      e = bin(op, std::move(e), multiplicative());
    }
    return e;
  }
  ExprP multiplicative() {
    auto e = unary();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const std::string op = t_[p_++].text;
      e = bin(op, std::move(e), unary());
    }
    return e;
  }
  ExprP unary() {
    if (at_op("-")) {
      ++p_;
      auto e = mk(Expr::unary, "-");
      e->kids.push_back(unary());
      return e;
    }
    return postfix();
  }
  void args(Expr& call) {  // '(' [expr | name=expr] {, ...} ')'
    expect_op("(");
    while (!at_op(")")) {
      if (peek().kind == Tok::name && t_[p_ + 1].kind == Tok::op && t_[p_ + 1].text == "=") {
        call.kw.push_back(t_[p_].text);
        p_ += 2;
      } else {
        RLEIF_CHECK(call.kw.empty(), where_, ": positional argument after a keyword one in '", src_, "'");
      }
      call.kids.push_back(expr());
      if (!at_op(")")) expect_op(",");
    }
    ++p_;
  }
  ExprP postfix() {
    auto e = primary();
    while (true) {
      if (at_op(".")) {
        ++p_;
        auto a = mk(Expr::attr, take_name());
        a->kids.push_back(std::move(e));
        e = std::move(a);
      } else if (at_op("[")) {
        ++p_;
        ExprP parts[3];
        int n = 0;
        bool is_slice = false;
        while (!at_op("]")) {
          if (at_op(":")) {
            ++p_, ++n, is_slice = true;
            RLEIF_CHECK(n < 3, where_, ": bad slice in '", src_, "'");
            continue;
          }
          parts[n] = expr();
        }
        ++p_;
        auto x = mk(is_slice ? Expr::slice : Expr::index);
        x->kids.push_back(std::move(e));
        for (int i = 0; i < (is_slice ? 3 : 1); ++i) {
          if (!parts[i]) {
            parts[i] = mk(Expr::literal);
            parts[i]->value = nullptr;
          }
          x->kids.push_back(std::move(parts[i]));
        }
        e = std::move(x);
      } else if (at_op("(")) {
        auto c = mk(Expr::call);
        c->kids.push_back(std::move(e));
        args(*c);
        e = std::move(c);
      } else if (at_op("|")) {
        ++p_;
        auto f = mk(Expr::filter, take_name());
        f->kids.push_back(std::move(e));
        if (at_op("(")) args(*f);
        e = std::move(f);
      } else {
        return e;
      }
    }
  }
  ExprP primary() {
    const Token tk = peek();
    if (tk.kind == Tok::str || tk.kind == Tok::num) {
      ++p_;
      auto e = mk(Expr::literal);
      e->value = tk.value;
      while (tk.kind == Tok::str && peek().kind == Tok::str) e->value = e->value.get<std::string>() + t_[p_++].text;
      return e;
    }
    if (tk.kind == Tok::name) {
      ++p_;
      auto e = mk(Expr::literal);
      if (tk.text == "true" || tk.text == "True") e->value = true;
      else if (tk.text == "false" || tk.text == "False") e->value = false;
      else if (tk.text == "none" || tk.text == "None") e->value = nullptr;
      else e = mk(Expr::var, tk.text);
      return e;
    }
    if (at_op("(")) {
      ++p_;
      auto e = expr();
      expect_op(")");
      return e;
    }
    if (at_op("[")) {
      ++p_;
      auto e = mk(Expr::list);
      while (!at_op("]")) {
        e->kids.push_back(expr());
        if (!at_op("]")) expect_op(",");
      }
      ++p_;
      return e;
    }
    if (at_op("{")) {
      ++p_;
      auto e = mk(Expr::dict);
      while (!at_op("}")) {
        e->kids.push_back(expr());
        expect_op(":");
        e->kids.push_back(expr());
        if (!at_op("}")) expect_op(",");
      }
      ++p_;
      return e;
    }
    RLEIF_FAIL(where_, ": unexpected '", tk.text, "' in '", src_, "'");
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  std::string src_, where_;
};

}  // namespace

namespace {

struct Segment {
  enum Kind { text, expr, stmt } kind;
  std::string src;
  size_t offset;
};

// Splits the source into text / {{ }} / {% %} segments, applying '-' whitespace control and the
// trim_blocks + lstrip_blocks settings transformers' chat-template environment uses.
std::vector<Segment> segment(const std::string& s, const std::string& where) {
  std::vector<Segment> out;
  size_t i = 0;
  bool strip_next = false, trim_newline = false;
  while (i <= s.size()) {
    size_t open = s.find('{', i);
    while (open != std::string::npos && open + 1 < s.size() && s[open + 1] != '{' && s[open + 1] != '%' && s[open + 1] != '#')
      open = s.find('{', open + 1);
    if (open + 1 >= s.size()) open = std::string::npos;
    std::string text = s.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (trim_newline && !text.empty() && text[0] == '\n') text.erase(0, 1);
    else if (trim_newline && text.compare(0, 2, "\r\n") == 0) text.erase(0, 2);
    if (strip_next) text.erase(0, text.find_first_not_of(" \t\r\n") == std::string::npos ? text.size() : text.find_first_not_of(" \t\r\n"));
    strip_next = trim_newline = false;
    if (open == std::string::npos) {
      if (!text.empty()) out.push_back({Segment::text, text, i});
      break;
    }
    const char kind = s[open + 1];
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const size_t end = s.find(close, open + 2);
    RLEIF_CHECK(end != std::string::npos, where, ": unclosed '{", kind, "' at offset ", open);
    std::string inner = s.substr(open + 2, end - open - 2);
    const bool lstrip_prev = !inner.empty() && inner[0] == '-';
    const bool keep_prev = !inner.empty() && inner[0] == '+';
    if (lstrip_prev || keep_prev) inner.erase(0, 1);
    strip_next = !inner.empty() && inner.back() == '-';
    if (strip_next) inner.pop_back();
    if (lstrip_prev) {
      text.erase(text.find_last_not_of(" \t\r\n") == std::string::npos ? 0 : text.find_last_not_of(" \t\r\n") + 1);
    } else if (kind != '{' && !keep_prev) {  // lstrip_blocks: a block tag alone at a line start
      const size_t nl = open == 0 ? std::string::npos : s.rfind('\n', open - 1);
      const size_t line = nl == std::string::npos ? 0 : nl + 1;
      if (s.find_first_not_of(" \t", line) >= open) {
        const size_t k = open - std::max(line, i);
        text.erase(text.size() - std::min(k, text.size()));
      }
    }
    if (!text.empty()) out.push_back({Segment::text, text, i});
    if (kind != '#') out.push_back({kind == '{' ? Segment::expr : Segment::stmt, inner, open});
    trim_newline = kind != '{';  // trim_blocks
    i = end + 2;
  }
  return out;
}

class StmtParser {
 public:
  StmtParser(const std::vector<Segment>& segs, const std::string& where) : s_(segs), where_(where) {}

  // Parses nodes until a statement whose first word is in `stops` (returned in `stop`), or the end.
  Nodes parse(const std::vector<std::string>& stops, std::string* stop, std::string* stop_rest) {
    Nodes out;
    while (i_ < s_.size()) {
      const Segment& g = s_[i_++];
      const std::string here = where_ + " (offset " + std::to_string(g.offset) + ")";
      if (g.kind == Segment::text) {
        auto n = std::make_unique<ChatTemplate::Node>();
        n->kind = ChatTemplate::Node::kText;
        n->text = g.src;
        out.push_back(std::move(n));
        continue;
      }
      if (g.kind == Segment::expr) {
        auto n = std::make_unique<ChatTemplate::Node>();
        n->kind = ChatTemplate::Node::kOutput;
        n->expr = Parser(g.src, here).parse_all();
        out.push_back(std::move(n));
        continue;
      }
      const std::string src = trim(g.src);
      const size_t sp = src.find_first_of(" \t\n");
      const std::string word = src.substr(0, sp);
      const std::string rest = sp == std::string::npos ? "" : src.substr(sp + 1);
      for (const auto& st : stops)
        if (word == st) {
          *stop = word;
          *stop_rest = rest;
          return out;
        }
      auto n = std::make_unique<ChatTemplate::Node>();
      if (word == "if") {
        n->kind = ChatTemplate::Node::kIf;
        std::string cond = rest, w, r;
        while (true) {
          auto body = parse({"elif", "else", "endif"}, &w, &r);
          n->branches.emplace_back(Parser(cond, here).parse_all(), std::move(body));
          if (w == "elif") {
            cond = r;
            continue;
          }
          if (w == "else") n->else_body = parse({"endif"}, &w, &r);
          RLEIF_CHECK(w == "endif", here, ": '{% if %}' without '{% endif %}'");
          break;
        }
      } else if (word == "for") {
        n->kind = ChatTemplate::Node::kFor;
        Parser p(rest, here);
        n->targets.push_back(p.take_name());
        while (p.at_op(",")) p.expect_op(","), n->targets.push_back(p.take_name());
        p.expect_name("in");
        n->expr = p.expr();
        p.expect_end();
        std::string w, r;
        n->body = parse({"else", "endfor"}, &w, &r);
        if (w == "else") n->else_body = parse({"endfor"}, &w, &r);
        RLEIF_CHECK(w == "endfor", here, ": '{% for %}' without '{% endfor %}'");
      } else if (word == "set") {
        n->kind = ChatTemplate::Node::kSet;
        Parser p(rest, here);
        n->targets.push_back(p.take_name());
        if (p.at_op(".")) p.expect_op("."), n->targets.push_back(p.take_name());
        p.expect_op("=");
        n->expr = p.expr();
        p.expect_end();
      } else {
        RLEIF_FAIL(here, ": '{% ", word, " %}' is not supported by rleif's chat-template renderer");
      }
      out.push_back(std::move(n));
    }
    RLEIF_CHECK(stops.empty(), where_, ": missing '{% ", stops.back(), " %}'");
    return out;
  }

 private:
  const std::vector<Segment>& s_;
  size_t i_ = 0;
  std::string where_;
};

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, const std::string& where) {
  auto segs = segment(source, where);
  StmtParser p(segs, where);
  std::string w, r;
  body_ = p.parse({}, &w, &r);
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

}  // namespace rleif::serve
