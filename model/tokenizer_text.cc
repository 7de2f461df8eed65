// Text primitives for the tokenizer: UTF-8, PCRE2 patterns, split behaviours, the byte-level table,
// Unicode normalization (ICU) and JSON field helpers.
#include <algorithm>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#if RLEIF_HAVE_ICU
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#endif

#include "core/error.h"
#include "model/tokenizer_parts.h"

namespace rleif::tok {

// ---- UTF-8 ----------------------------------------------------------------------------------

namespace {
bool is_cont(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the well-formed character at s[i], or 0 with *bad set to the length of the maximal
// invalid subpart (Unicode's "maximal subpart" rule, which Rust's Utf8Chunks follows).
size_t well_formed_len(std::string_view s, size_t i, size_t* bad) {
  auto at = [&](size_t k) -> unsigned char { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0; };
  unsigned char b0 = at(i);
  if (b0 < 0x80) return 1;
  unsigned char b1 = at(i + 1);
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (is_cont(b1)) return 2;
    *bad = 1;
    return 0;
  }
  bool second_ok = false;
  size_t want = 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    want = 3;
    second_ok = (b0 == 0xE0 && b1 >= 0xA0 && b1 <= 0xBF) || (b0 >= 0xE1 && b0 <= 0xEC && is_cont(b1)) ||
                (b0 == 0xED && b1 >= 0x80 && b1 <= 0x9F) || (b0 >= 0xEE && is_cont(b1));
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    want = 4;
    second_ok = (b0 == 0xF0 && b1 >= 0x90 && b1 <= 0xBF) || (b0 >= 0xF1 && b0 <= 0xF3 && is_cont(b1)) ||
                (b0 == 0xF4 && b1 >= 0x80 && b1 <= 0x8F);
  }
  if (!second_ok) {
    *bad = 1;
    return 0;
  }
  for (size_t k = 2; k < want; ++k) {
    if (!is_cont(at(i + k))) {
      *bad = k;
      return 0;
    }
  }
  return want;
}
}  // namespace

size_t find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t bad = 0;
    size_t n = well_formed_len(s, i, &bad);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    size_t n = well_formed_len(s, i, &bad);
    if (n > 0) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += std::min(bad, s.size() - i);
    }
  }
  return out;
}

char32_t next_char(std::string_view s, size_t& i) {
  auto b = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[k])); };
  char32_t c = b(i);
  size_t n = utf8_len(static_cast<unsigned char>(c));
  if (i + n > s.size()) n = 1;  // only on invalid input, which callers exclude
  if (n == 2) c = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F);
  if (n == 3) c = ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
  if (n == 4) c = ((c & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) | ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
  i += n;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

bool is_white_space(char32_t c) {
  // PropList.txt White_Space: a fixed set of 25 code points.
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ---- Regex ----------------------------------------------------------------------------------

namespace {
// Per-thread match state: match data and a JIT stack larger than the 32 KiB default, so long runs
// of one character class (" " * 10000) do not exhaust it.
struct MatchScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  MatchScratch() {
    if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};
MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}
std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

// Oniguruma's \s is the Unicode White_Space property; PCRE2's (with UCP) also matches U+180E.
// Spelling the set out keeps pre-tokenizer splits identical to the tokenizers library's.
constexpr const char* kSpace =
    R"(\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
constexpr const char* kNonSpace =
    R"(\x{0}-\x{8}\x{E}-\x{1F}\x{21}-\x{84}\x{86}-\x{9F}\x{A1}-\x{167F}\x{1681}-\x{1FFF}\x{200B}-\x{2027})"
    R"(\x{202A}-\x{202E}\x{2030}-\x{205E}\x{2060}-\x{2FFF}\x{3001}-\x{10FFFF})";

// The pattern with every \s and \S (outside \Q...\E) replaced by those explicit sets: inside a
// character class the ranges join the class, outside they become a class of their own.
std::string onig_spaces(const std::string& p) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char n = p[i + 1];
      if (n == 'Q') {
        size_t e = p.find("\\E", i + 2);
        size_t stop = e == std::string::npos ? p.size() : e + 2;
        out.append(p, i, stop - i);
        i = stop - 1;
      } else if (n == 's' || n == 'S') {
        const char* set = n == 's' ? kSpace : kNonSpace;
        out += in_class ? std::string(set) : "[" + std::string(set) + "]";
        ++i;
      } else {
        out += c;
        out += n;
        ++i;
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // a leading ']' is literal
    } else if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      size_t e = p.find(":]", i + 2);  // a POSIX class such as [:alpha:]
      if (e != std::string::npos) {
        out.append(p, i + 1, e + 1 - i);
        i = e + 1;
      }
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

pcre2_code* compile(const std::string& pattern, int* err, PCRE2_SIZE* offset) {
  return pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                       PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, err, offset, nullptr);
}
}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) {
  // The pattern as written is compiled first so that errors point into it, not into the rewrite.
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* as_written = compile(pattern, &err, &offset);
  RLEIF_CHECK(as_written != nullptr, where, ": invalid regex /", pattern, "/: ", pcre2_message(err), " at offset ",
              offset, "; fix the pattern (PCRE2 syntax with Unicode properties)");
  std::string rewritten = onig_spaces(pattern);
  if (rewritten == pattern) {
    code_ = as_written;
  } else {
    pcre2_code_free(as_written);
    code_ = compile(rewritten, &err, &offset);
    RLEIF_CHECK(code_ != nullptr, where, ": regex /", pattern, "/ fails after spelling out \\s: ", pcre2_message(err));
  }
  // JIT is an optimisation only: the interpreter gives the same matches where JIT is unavailable.
  pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::find_all(std::string_view s, std::vector<Span>& out) const {
  MatchScratch& m = scratch();
  auto subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= s.size()) {
    int rc = pcre2_match(code_, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, m.data, m.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    RLEIF_CHECK(rc >= 0, "tokenizer: regex match failed (", pcre2_message(rc), ") on a text of ", s.size(), " bytes");
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.data);
    size_t b = ov[0], e = ov[1];
    if (b == e && have_last && last_end == e) {
      if (pos >= s.size()) break;
      pos += utf8_len(static_cast<unsigned char>(s[pos]));
      continue;
    }
    out.push_back({b, e});
    pos = e;
    last_end = e;
    have_last = true;
  }
}

bool Regex::search(std::string_view s) const {
  MatchScratch& m = scratch();
  int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, PCRE2_NO_UTF_CHECK, m.data,
                       m.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  RLEIF_CHECK(rc >= 0, "tokenizer: regex match failed (", pcre2_message(rc), ")");
  return true;
}

Pattern::Pattern(const json& j, const std::string& where) {
  if (j.is_object() && j.contains("String") && j["String"].is_string()) {
    literal_ = j["String"].get<std::string>();
    RLEIF_CHECK(!literal_.empty(), where, ": the String pattern is empty; give at least one character");
  } else if (j.is_object() && j.contains("Regex") && j["Regex"].is_string()) {
    regex_ = std::make_unique<Regex>(j["Regex"].get<std::string>(), where);
  } else {
    RLEIF_FAIL(where, ": 'pattern' must be {\"String\": ...} or {\"Regex\": ...}, got ", j.dump().substr(0, 80));
  }
}

void Pattern::find_all(std::string_view s, std::vector<Span>& out) const {
  if (regex_) return regex_->find_all(s, out);
  for (size_t p = s.find(literal_); p != std::string_view::npos; p = s.find(literal_, p + literal_.size()))
    out.push_back({p, p + literal_.size()});
}

SplitBehavior parse_split_behavior(const json& j, const std::string& where) {
  std::string b = j.is_string() ? j.get<std::string>() : "";
  if (b == "Removed") return SplitBehavior::removed;
  if (b == "Isolated") return SplitBehavior::isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (b == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (b == "Contiguous") return SplitBehavior::contiguous;
  RLEIF_FAIL(where, ": unknown split behavior ", j.dump().substr(0, 40),
             "; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
}

std::vector<Span> split_pieces(size_t n, const std::vector<Span>& matches, SplitBehavior behavior, bool invert) {
  // The tokenizers Pattern::find_matches cover: matches and the gaps between them.
  struct Part {
    Span span;
    bool match;
  };
  std::vector<Part> parts;
  parts.reserve(matches.size() * 2 + 1);
  if (n == 0) {
    parts.push_back({{0, 0}, false});
  } else {
    size_t prev = 0;
    for (const Span& m : matches) {
      if (prev != m.begin) parts.push_back({{prev, m.begin}, false});
      parts.push_back({m, true});
      prev = m.end;
    }
    if (prev != n) parts.push_back({{prev, n}, false});
  }
  if (invert)
    for (Part& p : parts) p.match = !p.match;

  std::vector<Span> out;
  out.reserve(parts.size());
  auto keep = [&](Span s) {
    if (s.end > s.begin) out.push_back(s);
  };
  switch (behavior) {
    case SplitBehavior::removed:
      for (const Part& p : parts)
        if (!p.match) keep(p.span);
      break;
    case SplitBehavior::isolated:
      for (const Part& p : parts) keep(p.span);
      break;
    case SplitBehavior::merged_with_previous:
    case SplitBehavior::contiguous: {
      // A match joins the piece before it (contiguous: any part joins a previous part of its kind).
      std::vector<Span> acc;
      bool prev_match = false;
      for (const Part& p : parts) {
        bool join = behavior == SplitBehavior::contiguous ? p.match == prev_match : (p.match && !prev_match);
        if (join && !acc.empty())
          acc.back().end = p.span.end;
        else
          acc.push_back(p.span);
        prev_match = p.match;
      }
      for (Span s : acc) keep(s);
      break;
    }
    case SplitBehavior::merged_with_next: {
      // A match joins the piece after it; walk backwards as tokenizers does.
      std::vector<Span> acc;
      bool next_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !next_match && !acc.empty())
          acc.back().begin = it->span.begin;
        else
          acc.push_back(it->span);
        next_match = it->match;
      }
      for (auto it = acc.rbegin(); it != acc.rend(); ++it) keep(*it);
      break;
    }
  }
  return out;
}

// ---- Byte-level table -----------------------------------------------------------------------

namespace {
struct ByteTable {
  std::array<std::string, 256> to_char;
  std::array<int, 324> to_byte;  // code points 0..323 cover the table
  ByteTable() {
    to_byte.fill(-1);
    // GPT-2: printable bytes map to themselves, the other 68 to U+0100 upward in byte order.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      append_utf8(to_char[b], c);
      to_byte[c] = b;
    }
  }
};
const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}
}  // namespace

const std::string& byte_char(unsigned char b) { return byte_table().to_char[b]; }
int char_byte(char32_t c) { return c < 324 ? byte_table().to_byte[c] : -1; }

// ---- Unicode normalization ------------------------------------------------------------------

void unicode_normalize(std::string& s, UnicodeForm form, const std::string& where) {
  bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return;  // every normalization form leaves ASCII unchanged
#if RLEIF_HAVE_ICU
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case UnicodeForm::nfc: n = icu::Normalizer2::getNFCInstance(status); break;
    case UnicodeForm::nfd: n = icu::Normalizer2::getNFDInstance(status); break;
    case UnicodeForm::nfkc: n = icu::Normalizer2::getNFKCInstance(status); break;
    case UnicodeForm::nfkd: n = icu::Normalizer2::getNFKDInstance(status); break;
  }
  RLEIF_CHECK(U_SUCCESS(status) && n, where, ": ICU normalizer unavailable (", u_errorName(status), ")");
  if (n->isNormalizedUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), status) && U_SUCCESS(status))
    return;
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  n->normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr, status);
  RLEIF_CHECK(U_SUCCESS(status), where, ": Unicode normalization failed (", u_errorName(status), ")");
  s = std::move(out);
#else
  (void)form;
  RLEIF_FAIL(where, ": Unicode normalizers (NFC, NFD, NFKC, NFKD) need ICU, and rleif was built without it; "
                    "install libicu-dev and reconfigure");
#endif
}

// ---- JSON helpers ---------------------------------------------------------------------------

bool json_bool(const json& j, const char* key, bool fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  RLEIF_CHECK(j[key].is_boolean(), where, ": '", key, "' must be true or false, got ", j[key].dump().substr(0, 40));
  return j[key].get<bool>();
}

std::string json_string(const json& j, const char* key, const std::string& where) {
  RLEIF_CHECK(j.contains(key) && j[key].is_string(), where, ": '", key, "' must be a string",
              j.contains(key) ? ", got " + j[key].dump().substr(0, 40) : std::string(" and is missing"));
  return j[key].get<std::string>();
}

std::optional<std::string> json_opt_string(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return json_string(j, key, where);
}

int64_t json_int(const json& j, const char* key, int64_t fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  RLEIF_CHECK(j[key].is_number_integer(), where, ": '", key, "' must be an integer, got ",
              j[key].dump().substr(0, 40));
  return j[key].get<int64_t>();
}

const json& json_array(const json& j, const char* key, const std::string& where) {
  RLEIF_CHECK(j.contains(key) && j[key].is_array(), where, ": '", key, "' must be an array",
              j.contains(key) ? ", got " + j[key].dump().substr(0, 40) : std::string(" and is missing"));
  return j[key];
}

std::string json_type(const json& j, const std::string& where) {
  RLEIF_CHECK(j.is_object(), where, ": expected an object with a \"type\", got ", j.dump().substr(0, 60));
  return json_string(j, "type", where);
}

}  // namespace rleif::tok
