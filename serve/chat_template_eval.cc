// Rendering of a parsed chat template: Jinja semantics for the subset chat_template.h lists.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <limits>
#include <map>

#include "core/fs.h"
#include "core/strings.h"
#include "serve/chat_template_ast.h"

namespace rleif::serve {

namespace {

// A string's characters as Python sees them: one UTF-8 sequence each (a stray byte on its own), so
// indexing, slicing, length, first and last count characters, not bytes, and never split one.
std::vector<std::string> py_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    size_t k = 1;
    while (k < n && i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80) ++k;
    if (k < n) n = 1;  // a truncated sequence: its lead byte alone
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// json's text; bytes that are not UTF-8 (a template file's own literals) become U+FFFD, as Python
// would have refused to decode them, instead of an exception.
std::string dump_text(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

bool truthy(const json& v) {
  if (is_undef(v) || v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();  // json::empty() is false for strings
  if (v.is_array() || v.is_object()) return !v.empty();
  return true;
}

// Python's json.dumps layout (", " and ": " separators, no ASCII escaping), as Jinja's tojson.
std::string py_json(const json& v) {
  if (v.is_object()) {
    std::string s = "{";
    for (auto it = v.begin(); it != v.end(); ++it) s += (it == v.begin() ? "" : ", ") + dump_text(json(it.key())) + ": " + py_json(it.value());
    return s + "}";
  }
  if (v.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + py_json(v[i]);
    return s + "]";
  }
  return dump_text(v);
}

// Jinja's rendering of a value (Python's str()).
std::string to_str(const json& v) {
  if (is_undef(v)) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "None";
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    std::string s = dump_text(v);
    return s.find_first_of(".e") == std::string::npos ? s + ".0" : s;
  }
  return dump_text(v);
}

std::string strip_chars(const std::string& s, const std::string& chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  if (right) while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  return s.substr(b, e - b);
}

const std::string kSpace = " \t\n\r\f\v";

int64_t norm_index(int64_t i, int64_t n) { return i < 0 ? i + n : i; }

class Renderer {
 public:
  explicit Renderer(const json& vars) {
    scopes_.emplace_back();
    for (auto it = vars.begin(); it != vars.end(); ++it) scopes_.back()[it.key()] = it.value();
  }

  void run(const Nodes& nodes, std::string& out) {
    for (const auto& n : nodes) {
      switch (n->kind) {
        case ChatTemplate::Node::kText:
          out += n->text;
          break;
        case ChatTemplate::Node::kOutput:
          out += to_str(eval(*n->expr));
          break;
        case ChatTemplate::Node::kIf: {
          bool taken = false;
          for (const auto& [cond, body] : n->branches)
            if (truthy(eval(*cond))) {
              run(body, out);
              taken = true;
              break;
            }
          if (!taken) run(n->else_body, out);
          break;
        }
        case ChatTemplate::Node::kFor:
          run_for(*n, out);
          break;
        case ChatTemplate::Node::kSet: {
          json v = eval(*n->expr);
          if (n->targets.size() == 1) {
            scopes_.back()[n->targets[0]] = v;
          } else {
            json* ns = find(n->targets[0]);
            RLEIF_CHECK(ns && ns->is_object(), "chat template: '", n->targets[0], "' is not a namespace()");
            (*ns)[n->targets[1]] = v;
          }
          break;
        }
      }
    }
  }

 private:
  json* find(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }

  void run_for(const ChatTemplate::Node& n, std::string& out) {
    json seq = eval(*n.expr);
    std::vector<json> items;
    if (seq.is_array()) items.assign(seq.begin(), seq.end());
    else if (seq.is_object()) for (auto it = seq.begin(); it != seq.end(); ++it) items.push_back(it.key());
    else if (seq.is_string()) for (char c : seq.get<std::string>()) items.push_back(std::string(1, c));
    else RLEIF_CHECK(is_undef(seq) || seq.is_null(), "chat template: cannot loop over ", dump_text(seq));
    if (items.empty()) {
      run(n.else_body, out);
      return;
    }
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      scopes_.emplace_back();
      auto& sc = scopes_.back();
      if (n.targets.size() == 1) {
        sc[n.targets[0]] = items[i];
      } else {
        RLEIF_CHECK(items[i].is_array() && items[i].size() == n.targets.size(), "chat template: cannot unpack ",
                    dump_text(items[i]), " into ", n.targets.size(), " names");
        for (size_t k = 0; k < n.targets.size(); ++k) sc[n.targets[k]] = items[i][k];
      }
      sc["loop"] = {{"index", i + 1}, {"index0", i}, {"revindex", len - i}, {"revindex0", len - i - 1},
                    {"first", i == 0}, {"last", i == len - 1}, {"length", len},
                    {"previtem", i > 0 ? items[i - 1] : undefined_value()},
                    {"nextitem", i + 1 < len ? items[i + 1] : undefined_value()}};
      run(n.body, out);
      scopes_.pop_back();
    }
  }

  json eval(const Expr& e) {
    switch (e.kind) {
      case Expr::literal:
        return e.value;
      case Expr::var: {
        const json* v = find(e.name);
        return v ? *v : undefined_value();
      }
      case Expr::list: {
        json a = json::array();
        for (const auto& k : e.kids) a.push_back(eval(*k));
        return a;
      }
      case Expr::dict: {
        json o = json::object();
        for (size_t i = 0; i + 1 < e.kids.size(); i += 2) o[to_str(eval(*e.kids[i]))] = eval(*e.kids[i + 1]);
        return o;
      }
      case Expr::attr: {
        json v = eval(*e.kids[0]);
        if (v.is_object() && v.contains(e.name)) return v.at(e.name);
        return undefined_value();
      }
      case Expr::index:
        return index(eval(*e.kids[0]), eval(*e.kids[1]));
      case Expr::slice:
        return slice(eval(*e.kids[0]), eval(*e.kids[1]), eval(*e.kids[2]), eval(*e.kids[3]));
      case Expr::call:
        return call(e);
      case Expr::filter:
        return filter(e);
      case Expr::test:
        return test(e);
      case Expr::unary: {
        json v = eval(*e.kids[0]);
        if (e.name == "not") return !truthy(v);
        if (v.is_number_integer()) return -v.get<int64_t>();
        RLEIF_CHECK(v.is_number(), "chat template: cannot negate ", dump_text(v));
        return -v.get<double>();
      }
      case Expr::binary:
        return binary(e);
      case Expr::cond:
        return truthy(eval(*e.kids[0])) ? eval(*e.kids[1]) : eval(*e.kids[2]);
    }
    return undefined_value();
  }

  json index(const json& v, const json& i) {
    if (v.is_object()) {
      const std::string k = to_str(i);
      return v.contains(k) ? v.at(k) : undefined_value();
    }
    if ((v.is_array() || v.is_string()) && i.is_number_integer()) {
      const std::vector<std::string> chars = v.is_string() ? py_chars(v.get<std::string>()) : std::vector<std::string>{};
      const int64_t n = static_cast<int64_t>(v.is_string() ? chars.size() : v.size()), k = norm_index(i.get<int64_t>(), n);
      if (k < 0 || k >= n) return undefined_value();
      return v.is_array() ? v[static_cast<size_t>(k)] : json(chars[static_cast<size_t>(k)]);
    }
    return undefined_value();
  }

  json slice(const json& v, const json& a, const json& b, const json& st) {
    const bool str = v.is_string();
    RLEIF_CHECK(str || v.is_array(), "chat template: cannot slice ", dump_text(v));
    const std::vector<std::string> chars = str ? py_chars(v.get<std::string>()) : std::vector<std::string>{};
    const int64_t n = static_cast<int64_t>(str ? chars.size() : v.size());
    const int64_t step = st.is_number_integer() ? st.get<int64_t>() : 1;
    RLEIF_CHECK(step != 0, "chat template: slice step cannot be zero");
    auto bound = [&](const json& x, int64_t dflt) {
      if (!x.is_number_integer()) return dflt;
      int64_t k = norm_index(x.get<int64_t>(), n);
      return step > 0 ? std::clamp<int64_t>(k, 0, n) : std::clamp<int64_t>(k, -1, n - 1);
    };
    const int64_t from = bound(a, step > 0 ? 0 : n - 1), to = bound(b, step > 0 ? n : -1);
    std::string text;
    json out = json::array();
    for (int64_t k = from; step > 0 ? k < to : k > to; k += step) {
      if (str) text += chars[static_cast<size_t>(k)];
      else out.push_back(v[static_cast<size_t>(k)]);
    }
    return str ? json(text) : out;
  }

  std::vector<json> args(const Expr& e, size_t first) {
    std::vector<json> a;
    for (size_t i = first; i < e.kids.size(); ++i) a.push_back(eval(*e.kids[i]));
    return a;
  }

  json call(const Expr& e) {
    const Expr& target = *e.kids[0];
    std::vector<json> a = args(e, 1);
    if (target.kind == Expr::var) {
      if (target.name == "raise_exception")
        RLEIF_FAIL("chat template: ", a.empty() ? std::string("raise_exception()") : to_str(a[0]));
      if (target.name == "namespace") {
        json o = json::object();
        const size_t pos = a.size() - e.kw.size();
        for (size_t i = 0; i < e.kw.size(); ++i) o[e.kw[i]] = a[pos + i];
        return o;
      }
      if (target.name == "range") {
        int64_t lo = 0, hi = 0, st = 1;
        if (a.size() == 1) hi = a[0].get<int64_t>();
        else if (a.size() >= 2) lo = a[0].get<int64_t>(), hi = a[1].get<int64_t>(), st = a.size() > 2 ? a[2].get<int64_t>() : 1;
        RLEIF_CHECK(st != 0 && (hi - lo) / st < 100000, "chat template: bad range()");
        json r = json::array();
        for (int64_t k = lo; st > 0 ? k < hi : k > hi; k += st) r.push_back(k);
        return r;
      }
      if (target.name == "strftime_now") {
        char buf[128];
        std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        std::strftime(buf, sizeof buf, a.empty() ? "%Y-%m-%d" : to_str(a[0]).c_str(), &tm);
        return std::string(buf);
      }
      RLEIF_FAIL("chat template: unknown function '", target.name, "'");
    }
    RLEIF_CHECK(target.kind == Expr::attr, "chat template: this expression cannot be called");
    json self = eval(*target.kids[0]);
    const std::string& m = target.name;
    if (self.is_string()) {
      const std::string s = self.get<std::string>();
      const std::string chars = a.empty() || a[0].is_null() ? kSpace : to_str(a[0]);
      if (m == "strip") return strip_chars(s, chars, true, true);
      if (m == "lstrip") return strip_chars(s, chars, true, false);
      if (m == "rstrip") return strip_chars(s, chars, false, true);
      if (m == "upper" || m == "lower") {
        std::string r = s;
        for (auto& c : r) c = static_cast<char>(m == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
        return r;
      }
      if (m == "title" || m == "capitalize") {
        std::string r = s;
        bool start = true;
        for (auto& c : r) {
          const bool alpha = std::isalpha(static_cast<unsigned char>(c));
          c = static_cast<char>(start ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
          start = m == "title" ? !alpha : false;
        }
        return r;
      }
      if (m == "startswith") return !a.empty() && starts_with(s, to_str(a[0]));
      if (m == "endswith") return !a.empty() && ends_with(s, to_str(a[0]));
      if (m == "replace" && a.size() >= 2) {
        const std::string from = to_str(a[0]), to = to_str(a[1]);
        if (from.empty()) return s;
        std::string r;
        size_t p = 0, q;
        while ((q = s.find(from, p)) != std::string::npos) r += s.substr(p, q - p) + to, p = q + from.size();
        return r + s.substr(p);
      }
      if (m == "split") {
        json r = json::array();
        if (a.empty() || a[0].is_null()) {
          size_t p = 0;
          while ((p = s.find_first_not_of(kSpace, p)) != std::string::npos) {
            const size_t q = s.find_first_of(kSpace, p);
            r.push_back(s.substr(p, q == std::string::npos ? std::string::npos : q - p));
            p = q;
          }
          return r;
        }
        const std::string sep = to_str(a[0]);
        RLEIF_CHECK(!sep.empty(), "chat template: split() with an empty separator");
        size_t p = 0, q;
        while ((q = s.find(sep, p)) != std::string::npos) r.push_back(s.substr(p, q - p)), p = q + sep.size();
        r.push_back(s.substr(p));
        return r;
      }
    }
    if (self.is_object()) {
      if (m == "items") {
        json r = json::array();
        for (auto it = self.begin(); it != self.end(); ++it) r.push_back(json::array({it.key(), it.value()}));
        return r;
      }
      if (m == "keys" || m == "values") {
        json r = json::array();
        for (auto it = self.begin(); it != self.end(); ++it) r.push_back(m == "keys" ? json(it.key()) : it.value());
        return r;
      }
      if (m == "get") {
        const std::string k = a.empty() ? "" : to_str(a[0]);
        return self.contains(k) ? self.at(k) : (a.size() > 1 ? a[1] : json(nullptr));
      }
    }
    RLEIF_FAIL("chat template: unsupported method '", m, "' on ", is_undef(self) ? "an undefined value" : self.type_name());
  }

  json filter(const Expr& e) {
    json v = eval(*e.kids[0]);
    std::vector<json> a = args(e, 1);
    const std::string& f = e.name;
    if (f == "trim") return v.is_string() ? json(strip_chars(v.get<std::string>(), kSpace, true, true)) : v;
    if (f == "length" || f == "count")
      return json(is_undef(v) ? size_t{0} : v.is_string() ? py_chars(v.get<std::string>()).size() : v.size());
    if (f == "string") return to_str(v);
    if (f == "upper" || f == "lower" || f == "title" || f == "capitalize") {
      std::string s = to_str(v);
      for (auto& c : s) c = static_cast<char>(f == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
      if ((f == "title" || f == "capitalize") && !s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
      return s;
    }
    if (f == "tojson") return is_undef(v) ? std::string("null") : py_json(v);
    if (f == "first" || f == "last") {
      if (v.is_array()) return v.empty() ? undefined_value() : f == "first" ? v.front() : v.back();
      if (!v.is_string()) return undefined_value();
      const std::vector<std::string> chars = py_chars(v.get<std::string>());
      return chars.empty() ? undefined_value() : json(f == "first" ? chars.front() : chars.back());
    }
    if (f == "join") {
      std::string sep = a.empty() ? "" : to_str(a[0]), r;
      if (v.is_array())
        for (size_t i = 0; i < v.size(); ++i) r += (i ? sep : "") + to_str(v[i]);
      return r;
    }
    if (f == "default" || f == "d") return is_undef(v) || (a.size() > 1 && truthy(a[1]) && !truthy(v)) ? (a.empty() ? json("") : a[0]) : v;
    if (f == "list") return v.is_array() ? v : json::array();
    if (f == "int") return v.is_number() ? json(static_cast<int64_t>(v.get<double>())) : json(0);
    RLEIF_FAIL("chat template: unsupported filter '", f, "'");
  }

  json test(const Expr& e) {
    json v = eval(*e.kids[0]);
    const std::string& t = e.name;
    if (t == "defined") return !is_undef(v);
    if (t == "undefined") return is_undef(v);
    if (t == "none") return v.is_null();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number_integer();
    if (t == "boolean") return v.is_boolean();
    if (t == "true") return v.is_boolean() && v.get<bool>();
    if (t == "false") return v.is_boolean() && !v.get<bool>();
    if (t == "mapping") return v.is_object();
    if (t == "sequence" || t == "iterable") return v.is_array() || v.is_string() || (t == "iterable" && v.is_object());
    if ((t == "eq" || t == "equalto" || t == "sameas") && e.kids.size() > 1) return v == eval(*e.kids[1]);
    RLEIF_FAIL("chat template: unsupported test 'is ", t, "'");
  }

  json binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      json a = eval(*e.kids[0]);
      return truthy(a) ? eval(*e.kids[1]) : a;
    }
    if (op == "or") {
      json a = eval(*e.kids[0]);
      return truthy(a) ? a : eval(*e.kids[1]);
    }
    json a = eval(*e.kids[0]), b = eval(*e.kids[1]);
    if (op == "~") return to_str(a) + to_str(b);
    if (op == "==") return a == b;
    if (op == "!=") return a != b;
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.is_string()) found = b.get<std::string>().find(to_str(a)) != std::string::npos;
      else if (b.is_array()) found = std::find(b.begin(), b.end(), a) != b.end();
      else if (b.is_object()) found = a.is_string() && b.contains(a.get<std::string>());
      return op == "in" ? found : !found;
    }
    if (op == "+" && a.is_string() && b.is_string()) return a.get<std::string>() + b.get<std::string>();
    if (op == "+" && a.is_array() && b.is_array()) {
      json r = a;
      for (const auto& x : b) r.push_back(x);
      return r;
    }
    if ((op == "<" || op == ">" || op == "<=" || op == ">=") && a.is_string() && b.is_string()) {
      const int c = a.get<std::string>().compare(b.get<std::string>());
      return op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
    }
    RLEIF_CHECK(a.is_number() && b.is_number(), "chat template: '", op, "' needs numbers (or strings for +), got ",
                is_undef(a) ? "undefined" : dump_text(a), " and ", is_undef(b) ? "undefined" : dump_text(b));
    const bool ints = a.is_number_integer() && b.is_number_integer();
    const double x = a.get<double>(), y = b.get<double>();
    if (op == "<") return x < y;
    if (op == ">") return x > y;
    if (op == "<=") return x <= y;
    if (op == ">=") return x >= y;
    // Integers as Python's, within 64 bits: a result beyond is an error (Python would go on with a
    // bigint), never a wrapped value; // and % floor toward negative infinity.
    const int64_t p = ints ? a.get<int64_t>() : 0, q = ints ? b.get<int64_t>() : 0;
    int64_t r = 0;
    auto overflow = [&]() -> json {
      RLEIF_FAIL("chat template: ", p, " ", op, " ", q, " does not fit in 64 bits");
    };
    if (op == "+") return !ints ? json(x + y) : __builtin_add_overflow(p, q, &r) ? overflow() : json(r);
    if (op == "-") return !ints ? json(x - y) : __builtin_sub_overflow(p, q, &r) ? overflow() : json(r);
    if (op == "*") return !ints ? json(x * y) : __builtin_mul_overflow(p, q, &r) ? overflow() : json(r);
    RLEIF_CHECK(y != 0, "chat template: division by zero");
    if (op == "/") return x / y;
    if (ints && p == std::numeric_limits<int64_t>::min() && q == -1) return overflow();
    if (op == "//") {
      if (!ints) return std::floor(x / y);
      int64_t d = p / q;
      if (p % q != 0 && ((p < 0) != (q < 0))) --d;
      return d;
    }
    if (op == "%") {
      if (!ints) return std::fmod(x, y);
      int64_t m = p % q;
      if (m != 0 && ((m < 0) != (q < 0))) m += q;
      return m;
    }
    RLEIF_FAIL("chat template: unknown operator '", op, "'");
  }

  std::vector<std::map<std::string, json>> scopes_;
};

}  // namespace

std::string ChatTemplate::render(const json& vars) const {
  Renderer r(vars);
  std::string out;
  r.run(body_, out);
  return out;
}

std::string ChatTemplate::find_in(const std::string& dir) {
  if (path_exists(dir + "/chat_template.jinja")) return read_file(dir + "/chat_template.jinja");
  const std::string cfg = dir + "/tokenizer_config.json";
  if (!path_exists(cfg)) return {};
  json j;
  try {
    j = json::parse(read_file(cfg));
  } catch (const json::exception& e) {
    RLEIF_FAIL(cfg, ": invalid JSON (", e.what(), ")");
  }
  if (!j.is_object() || !j.contains("chat_template")) return {};
  const json& t = j.at("chat_template");
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())
    for (const auto& e : t)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template")) return e.at("template").get<std::string>();
  RLEIF_FAIL(cfg, ": 'chat_template' must be a string or a list of {name, template}");
}

}  // namespace rleif::serve
