// The normalizers, pre-tokenizers, decoders and post-processors of tokenizer.json, one small class
// each, following the same-named items of huggingface/tokenizers.
#include "core/error.h"
#include "core/strings.h"
#include "model/tokenizer_parts.h"

namespace rleif::tok {
namespace {

std::string at(const std::string& where, const char* key, size_t i) { return str(where, ".", key, "[", i, "]"); }

// A "replacement" / "content" field that must hold exactly one character.
std::string one_char(const json& j, const char* key, const std::string& where) {
  std::string s = json_string(j, key, where);
  RLEIF_CHECK(find_invalid_utf8(s) == std::string::npos && !s.empty() && utf8_len(s[0]) == s.size(), where, ": '",
              key, "' must be exactly one character, got \"", s, "\"");
  return s;
}

// ---- Normalizers ----------------------------------------------------------------------------

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

// Replaces every match of a pattern; shared by the Replace normalizer and decoder.
class Replacer {
 public:
  Replacer(const json& j, const std::string& where)
      : pattern_(j.contains("pattern") ? j["pattern"] : json(), where), content_(json_string(j, "content", where)) {}
  void apply(std::string& s) const {
    std::vector<Span> m;
    pattern_.find_all(s, m);
    if (m.empty()) return;
    std::string out;
    size_t prev = 0;
    for (const Span& sp : m) {
      out.append(s, prev, sp.begin - prev);
      out += content_;
      prev = sp.end;
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(const json& j, const std::string& where) : r_(j, where) {}
  void normalize(std::string& s) const override { r_.apply(s); }

 private:
  Replacer r_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  UnicodeNormalizer(UnicodeForm form, std::string where) : form_(form), where_(std::move(where)) {
    std::string probe = "e\xCC\x81";  // fails here, at load, when ICU is missing
    unicode_normalize(probe, form_, where_);
  }
  void normalize(std::string& s) const override { unicode_normalize(s, form_, where_); }

 private:
  UnicodeForm form_;
  std::string where_;
};

class NormalizerSequence final : public Normalizer {
 public:
  NormalizerSequence(const json& j, const std::string& where) {
    const json& list = json_array(j, "normalizers", where);
    for (size_t i = 0; i < list.size(); ++i) parts_.push_back(make_normalizer(list[i], at(where, "normalizers", i)));
  }
  void normalize(std::string& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// ---- Pre-tokenizers -------------------------------------------------------------------------

// Replaces each word by the words f(word, out) appends.
template <class F>
void for_each_word(std::vector<Word>& words, F&& f) {
  std::vector<Word> out;
  out.reserve(words.size() * 2);
  for (Word& w : words) f(w, out);
  words.swap(out);
}

void append_pieces(const Word& w, const std::string& text, const std::vector<Span>& pieces, std::vector<Word>& out) {
  for (const Span& p : pieces) out.push_back({text.substr(p.begin, p.end - p.begin), w.at_start && p.begin == 0});
}

// tokenizers' byte_level::RE, the GPT-2 pattern.
const Regex& gpt2_regex() {
  static const Regex re(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
                        "tokenizer: the GPT-2 pre-tokenizer pattern");
  return re;
}

class ByteLevelPre final : public PreTokenizer {
 public:
  ByteLevelPre(const json& j, const std::string& where)
      : add_prefix_space_(json_bool(j, "add_prefix_space", true, where)), use_regex_(json_bool(j, "use_regex", true, where)) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    std::vector<Span> m;
    for_each_word(words, [&](Word& w, std::vector<Word>& out) {
      if (add_prefix_space_ && (w.text.empty() || w.text[0] != ' ')) w.text.insert(0, " ");
      size_t first = out.size();
      if (use_regex_) {
        m.clear();
        gpt2_regex().find_all(w.text, m);
        append_pieces(w, w.text, split_pieces(w.text.size(), m, SplitBehavior::isolated, false), out);
      } else if (!w.text.empty()) {
        out.push_back(std::move(w));
      }
      for (size_t i = first; i < out.size(); ++i) {
        std::string mapped;
        mapped.reserve(out[i].text.size() * 2);
        for (char c : out[i].text) mapped += byte_char(static_cast<unsigned char>(c));
        out[i].text = std::move(mapped);
      }
    });
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class SplitPre final : public PreTokenizer {
 public:
  SplitPre(const json& j, const std::string& where)
      : pattern_(j.contains("pattern") ? j["pattern"] : json(), where + ".pattern"),
        behavior_(parse_split_behavior(j.contains("behavior") ? j["behavior"] : json(), where + ".behavior")),
        invert_(json_bool(j, "invert", false, where)) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    std::vector<Span> m;
    for_each_word(words, [&](Word& w, std::vector<Word>& out) {
      m.clear();
      pattern_.find_all(w.text, m);
      append_pieces(w, w.text, split_pieces(w.text.size(), m, behavior_, invert_), out);
    });
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { always, first, never };

// prepend_scheme, or the older add_prefix_space (true = always); "always" when neither is given.
PrependScheme parse_prepend_scheme(const json& j, const std::string& where) {
  if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
    std::string s = json_string(j, "prepend_scheme", where);
    if (s == "always") return PrependScheme::always;
    if (s == "first") return PrependScheme::first;
    if (s == "never") return PrependScheme::never;
    RLEIF_FAIL(where, ": prepend_scheme must be \"always\", \"first\" or \"never\", got \"", s, "\"");
  }
  return json_bool(j, "add_prefix_space", true, where) ? PrependScheme::always : PrependScheme::never;
}

class MetaspacePre final : public PreTokenizer {
 public:
  MetaspacePre(const json& j, const std::string& where)
      : repl_(one_char(j, "replacement", where)), scheme_(parse_prepend_scheme(j, where)),
        split_(json_bool(j, "split", true, where)) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    std::vector<Span> m;
    for_each_word(words, [&](Word& w, std::vector<Word>& out) {
      std::string t;
      t.reserve(w.text.size() + 8);
      for (char c : w.text) {
        if (c == ' ')
          t += repl_;
        else
          t += c;
      }
      bool prepend = scheme_ == PrependScheme::always || (scheme_ == PrependScheme::first && w.at_start);
      if (prepend && !starts_with(t, repl_)) t.insert(0, repl_);
      if (!split_) {
        out.push_back({std::move(t), w.at_start});
        return;
      }
      m.clear();
      for (size_t p = t.find(repl_); p != std::string::npos; p = t.find(repl_, p + repl_.size()))
        m.push_back({p, p + repl_.size()});
      append_pieces(w, t, split_pieces(t.size(), m, SplitBehavior::merged_with_next, false), out);
    });
  }

 private:
  std::string repl_;
  PrependScheme scheme_;
  bool split_;
};

class DigitsPre final : public PreTokenizer {
 public:
  DigitsPre(const json& j, const std::string& where)
      : individual_(json_bool(j, "individual_digits", false, where)), digit_(R"(\p{N})", where) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    std::vector<Span> m;
    for_each_word(words, [&](Word& w, std::vector<Word>& out) {
      m.clear();
      digit_.find_all(w.text, m);
      auto behavior = individual_ ? SplitBehavior::isolated : SplitBehavior::contiguous;
      append_pieces(w, w.text, split_pieces(w.text.size(), m, behavior, false), out);
    });
  }

 private:
  bool individual_;
  Regex digit_;
};

class PreTokenizerSequence final : public PreTokenizer {
 public:
  PreTokenizerSequence(const json& j, const std::string& where) {
    const json& list = json_array(j, "pretokenizers", where);
    for (size_t i = 0; i < list.size(); ++i) parts_.push_back(make_pre_tokenizer(list[i], at(where, "pretokenizers", i)));
  }
  void pre_tokenize(std::vector<Word>& words) const override {
    for (const auto& p : parts_) p->pre_tokenize(words);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

// ---- Decoders -------------------------------------------------------------------------------

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      // A token with any character outside the byte table (an added token such as "  ") is
      // kept as its raw UTF-8.
      size_t start = bytes.size();
      bool mapped = true;
      for (size_t i = 0; i < t.size() && mapped;) {
        int b = char_byte(next_char(t, i));
        if (b < 0) mapped = false;
        else bytes += static_cast<char>(b);
      }
      if (!mapped) bytes.replace(start, std::string::npos, t);
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(const json& j, const std::string& where) : r_(j, where) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) r_.apply(t);
  }

 private:
  Replacer r_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;  // bytes of consecutive <0xNN> tokens
    auto flush = [&] {
      if (pending.empty()) return;
      if (find_invalid_utf8(pending) == std::string::npos)
        out.push_back(pending);
      else
        out.insert(out.end(), pending.size(), "\xEF\xBF\xBD");  // one U+FFFD per byte, as tokenizers
      pending.clear();
    };
    for (std::string& t : tokens) {
      int b = byte_token_value(t);
      if (b >= 0) {
        pending += static_cast<char>(b);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }

 private:
  // "<0xNN>" -> NN; -1 otherwise. Rust's u8::from_str_radix also accepts "+N".
  static int byte_token_value(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    auto hex = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    };
    int lo = hex(t[4]);
    if (lo < 0) return -1;
    if (t[3] == '+') return lo;
    int hi = hex(t[3]);
    return hi < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override { tokens.assign(1, join(tokens, "")); }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(const json& j, const std::string& where)
      : content_(one_char(j, "content", where)), start_(json_int(j, "start", 0, where)), stop_(json_int(j, "stop", 0, where)) {
    RLEIF_CHECK(start_ >= 0 && stop_ >= 0, where, ": 'start' and 'stop' must be >= 0");
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    size_t width = content_.size();
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (int64_t i = 0; i < start_ && b + width <= e && t.compare(b, width, content_) == 0; ++i) b += width;
      for (int64_t i = 0; i < stop_ && e >= b + width && t.compare(e - width, width, content_) == 0; ++i) e -= width;
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  int64_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(const json& j, const std::string& where)
      : repl_(one_char(j, "replacement", where)), scheme_(parse_prepend_scheme(j, where)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      // Every replacement character becomes a space, except that the first token drops its own
      // (tokenizers' Metaspace::decode_chain drops all of them there, not only a leading one).
      bool drop = i == 0 && scheme_ != PrependScheme::never;
      std::string out;
      const std::string& t = tokens[i];
      for (size_t p = 0; p < t.size();) {
        if (t.compare(p, repl_.size(), repl_) == 0) {
          if (!drop) out += ' ';
          p += repl_.size();
        } else {
          out += t[p++];
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string repl_;
  PrependScheme scheme_;
};

class DecoderSequence final : public Decoder {
 public:
  DecoderSequence(const json& j, const std::string& where) {
    const json& list = json_array(j, "decoders", where);
    for (size_t i = 0; i < list.size(); ++i) parts_.push_back(make_decoder(list[i], at(where, "decoders", i)));
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

// ---- Post-processors ------------------------------------------------------------------------

int32_t token_id(const json& v, const std::string& where) {
  RLEIF_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < kMaxTokenId, where,
              ": token id must be an integer in [0, ", kMaxTokenId, "), got ", v.dump().substr(0, 40));
  return static_cast<int32_t>(v.get<int64_t>());
}

// The single-sequence template: special-token id runs around the sequence $A.
class Template final : public PostProcessor {
 public:
  Template(std::vector<int32_t> before, std::vector<int32_t> after) : before_(std::move(before)), after_(std::move(after)) {}
  Template(const json& j, const std::string& where) {
    const json& single = json_array(j, "single", where);
    RLEIF_CHECK(j.contains("special_tokens") && j["special_tokens"].is_object(), where,
                ": 'special_tokens' must be an object of {\"id\", \"ids\", \"tokens\"}");
    const json& specials = j["special_tokens"];
    bool seen_a = false;
    for (size_t i = 0; i < single.size(); ++i) {
      const json& piece = single[i];
      std::string w = at(where, "single", i);
      if (piece.contains("Sequence")) {
        const json& seq = piece["Sequence"];
        RLEIF_CHECK(seq.is_object() && seq.value("id", "") == "A" && !seen_a, w,
                    ": the single template must hold the sequence $A exactly once, got ", piece.dump());
        seen_a = true;
      } else if (piece.contains("SpecialToken") && piece["SpecialToken"].is_object()) {
        std::string name = json_string(piece["SpecialToken"], "id", w);
        RLEIF_CHECK(specials.contains(name), w, ": special token '", name,
                    "' is used in the template but missing from 'special_tokens'");
        const json& ids = json_array(specials[name], "ids", where + ".special_tokens." + name);
        for (size_t k = 0; k < ids.size(); ++k) (seen_a ? after_ : before_).push_back(token_id(ids[k], w));
      } else {
        RLEIF_FAIL(w, ": expected {\"SpecialToken\": ...} or {\"Sequence\": ...}, got ", piece.dump().substr(0, 80));
      }
    }
    RLEIF_CHECK(seen_a, where, ": the single template has no $A sequence");
  }
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }
  std::optional<int32_t> bos() const override { return before_.size() == 1 ? std::optional(before_[0]) : std::nullopt; }
  std::optional<int32_t> eos() const override { return after_.size() == 1 ? std::optional(after_[0]) : std::nullopt; }

 private:
  std::vector<int32_t> before_, after_;
};

// RobertaProcessing / BertProcessing: "cls": [token, id], "sep": [token, id] -> cls $A sep.
std::unique_ptr<PostProcessor> cls_sep(const json& j, const std::string& where) {
  auto id_of = [&](const char* key) {
    RLEIF_CHECK(j.contains(key) && j[key].is_array() && j[key].size() == 2, where, ": '", key,
                "' must be [token, id]");
    return token_id(j[key][1], where + "." + key);
  };
  return std::make_unique<Template>(std::vector<int32_t>{id_of("cls")}, std::vector<int32_t>{id_of("sep")});
}

class NoOpProcessor final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

class ProcessorSequence final : public PostProcessor {
 public:
  ProcessorSequence(const json& j, const std::string& where) {
    const json& list = json_array(j, "processors", where);
    for (size_t i = 0; i < list.size(); ++i) parts_.push_back(make_post_processor(list[i], at(where, "processors", i)));
  }
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }
  std::optional<int32_t> bos() const override {
    for (const auto& p : parts_)
      if (auto b = p->bos()) return b;
    return std::nullopt;
  }
  std::optional<int32_t> eos() const override {
    for (const auto& p : parts_)
      if (auto e = p->eos()) return e;
    return std::nullopt;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  std::string type = json_type(j, where);
  if (type == "Sequence") return std::make_unique<NormalizerSequence>(j, where);
  if (type == "Prepend") return std::make_unique<Prepend>(json_string(j, "prepend", where));
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(j, where);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::nfc, where);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::nfd, where);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::nfkc, where);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::nfkd, where);
  RLEIF_FAIL(where, ": unsupported normalizer type '", type,
             "'; rleif supports Sequence, Prepend, Replace, NFC, NFD, NFKC and NFKD");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
  std::string type = json_type(j, where);
  if (type == "Sequence") return std::make_unique<PreTokenizerSequence>(j, where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelPre>(j, where);
  if (type == "Split") return std::make_unique<SplitPre>(j, where);
  if (type == "Metaspace") return std::make_unique<MetaspacePre>(j, where);
  if (type == "Digits") return std::make_unique<DigitsPre>(j, where);
  RLEIF_FAIL(where, ": unsupported pre-tokenizer type '", type,
             "'; rleif supports Sequence, ByteLevel, Split, Metaspace and Digits");
}

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
  std::string type = json_type(j, where);
  if (type == "Sequence") return std::make_unique<DecoderSequence>(j, where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j, where);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return std::make_unique<StripDecoder>(j, where);
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j, where);
  RLEIF_FAIL(where, ": unsupported decoder type '", type,
             "'; rleif supports Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip and Metaspace");
}

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where) {
  std::string type = json_type(j, where);
  if (type == "Sequence") return std::make_unique<ProcessorSequence>(j, where);
  if (type == "TemplateProcessing") return std::make_unique<Template>(j, where);
  if (type == "ByteLevel") return std::make_unique<NoOpProcessor>();
  if (type == "RobertaProcessing" || type == "BertProcessing") return cls_sep(j, where);
  RLEIF_FAIL(where, ": unsupported post-processor type '", type,
             "'; rleif supports Sequence, TemplateProcessing, ByteLevel, RobertaProcessing and BertProcessing");
}

}  // namespace rleif::tok
