#include "model/llama2c.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <tuple>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "llama2.c checkpoints are little-endian; this importer reads them with memcpy"
#endif

namespace rleif::model {

namespace {

constexpr int64_t kHeaderBytes = 7 * 4;
// Export versions >= 1 of llama2.c's export.py start with this magic ("ak42" as a little-endian u32).
constexpr int32_t kVersionedMagic = 0x616b3432;
// Bounds well past any llama2.c model (Llama 2 70B: dim 8192, 80 layers, seq 4096), small enough
// that every size product below fits in int64.
constexpr int64_t kMaxDim = 1 << 16, kMaxHidden = 1 << 20, kMaxLayers = 1 << 10, kMaxVocab = 1 << 22,
                  kMaxSeq = 1 << 22;

int32_t read_i32(const char* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Offsets (in floats, after the header) of every tensor in a version-0 checkpoint, in file order.
struct Layout {
  int64_t embed, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_real, freq_imag, wcls, end;
};

Layout layout_of(const Llama2cConfig& c) {
  int64_t V = c.vocab_size, D = c.dim, L = c.n_layers, F = c.hidden_dim, KV = c.kv_dim();
  Layout l{};
  int64_t o = 0;
  l.embed = o, o += V * D;
  l.rms_att = o, o += L * D;
  l.wq = o, o += L * D * D;
  l.wk = o, o += L * KV * D;
  l.wv = o, o += L * KV * D;
  l.wo = o, o += L * D * D;
  l.rms_ffn = o, o += L * D;
  l.w1 = o, o += L * F * D;
  l.w2 = o, o += L * D * F;
  l.w3 = o, o += L * F * D;
  l.rms_final = o, o += D;
  l.freq_real = o, o += int64_t{c.seq_len} * c.head_dim() / 2;
  l.freq_imag = o, o += int64_t{c.seq_len} * c.head_dim() / 2;
  l.wcls = o, o += c.shared_classifier ? 0 : V * D;
  l.end = o;
  return l;
}

// Meta's checkpoints rotate interleaved pairs (x0,x1),(x2,x3)...; Hugging Face Llama rotates halves
// (x_i, x_{i+hd/2}). Reorders each head's output rows like llama2.c export.py `permute_original`:
// w.view(n_heads, hd/2, 2, in).transpose(1, 2).reshape(out, in).
std::vector<float> permute_rope_rows(const float* w, int64_t n_heads, int64_t head_dim, int64_t in) {
  std::vector<float> out(static_cast<size_t>(n_heads * head_dim * in));
  int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i) {
        const float* src = w + (h * head_dim + i * 2 + j) * in;
        float* dst = out.data() + (h * head_dim + j * half + i) * in;
        std::memcpy(dst, src, static_cast<size_t>(in) * sizeof(float));
      }
  return out;
}

// Byte offsets where each UTF-8 character of `s` starts (continuation bytes are 10xxxxxx).
std::vector<size_t> char_starts(const std::string& s) {
  std::vector<size_t> out;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  return out;
}

const char* const kSpecial[3] = {"<unk>", "<s>", "</s>"};

json added_token(int id, const char* content) {
  return {{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},   {"normalized", false}, {"special", true}};
}

}  // namespace

int64_t Llama2cConfig::file_bytes() const { return kHeaderBytes + 4 * layout_of(*this).end; }

Llama2cConfig read_llama2c_config(const std::string& model_bin) {
  struct stat st {};
  RLEIF_CHECK(::stat(model_bin.c_str(), &st) == 0, model_bin, ": cannot read llama2.c checkpoint (",
              std::strerror(errno), ")");
  RLEIF_CHECK(S_ISREG(st.st_mode), model_bin, ": not a regular file");
  auto size = static_cast<uint64_t>(st.st_size);
  RLEIF_CHECK(size >= static_cast<uint64_t>(kHeaderBytes), model_bin, ": file is ", size,
              " bytes, too short for a llama2.c checkpoint (needs a 28-byte header of 7 int32 config fields)");
  char head[kHeaderBytes];
  std::ifstream in(model_bin, std::ios::binary);
  RLEIF_CHECK(in.read(head, kHeaderBytes), model_bin, ": cannot read the 28-byte llama2.c header");
  Llama2cConfig c;
  c.dim = read_i32(&head[0]);
  c.hidden_dim = read_i32(&head[4]);
  c.n_layers = read_i32(&head[8]);
  c.n_heads = read_i32(&head[12]);
  c.n_kv_heads = read_i32(&head[16]);
  c.vocab_size = read_i32(&head[20]);
  c.seq_len = read_i32(&head[24]);
  RLEIF_CHECK(c.dim != kVersionedMagic, model_bin, ": this is a versioned llama2.c export (magic \"ak42\"); only the "
              "legacy version-0 format is supported; re-export with `python export.py --version 0`");
  // A negative vocab_size is llama2.c's flag for an unshared classifier (wcls follows rms_final).
  c.shared_classifier = c.vocab_size > 0;
  if (c.vocab_size < 0 && c.vocab_size != INT32_MIN) c.vocab_size = -c.vocab_size;
  auto field = [&](const char* name, int64_t v, int64_t max) {
    RLEIF_CHECK(v > 0 && v <= max, model_bin, ": config field ", name, " = ", v, " is out of range (expected 1..", max,
                "); this is not a version-0 llama2.c checkpoint or its header is corrupt");
  };
  field("dim", c.dim, kMaxDim);
  field("hidden_dim", c.hidden_dim, kMaxHidden);
  field("n_layers", c.n_layers, kMaxLayers);
  field("n_heads", c.n_heads, c.dim);
  field("n_kv_heads", c.n_kv_heads, c.n_heads);
  field("vocab_size", c.vocab_size, kMaxVocab);
  field("seq_len", c.seq_len, kMaxSeq);
  RLEIF_CHECK(c.dim % c.n_heads == 0, model_bin, ": dim ", c.dim, " is not divisible by n_heads ", c.n_heads);
  RLEIF_CHECK(c.n_heads % c.n_kv_heads == 0, model_bin, ": n_heads ", c.n_heads, " is not divisible by n_kv_heads ",
              c.n_kv_heads);
  RLEIF_CHECK(c.head_dim() % 2 == 0, model_bin, ": head dimension ", c.head_dim(), " (dim ", c.dim, " / n_heads ",
              c.n_heads, ") is odd; rotary embeddings need an even head dimension");
  RLEIF_CHECK(static_cast<int64_t>(size) == c.file_bytes(), model_bin, ": file is ", size, " bytes but its config (dim ",
              c.dim, ", hidden_dim ", c.hidden_dim, ", n_layers ", c.n_layers, ", n_heads ", c.n_heads, ", n_kv_heads ",
              c.n_kv_heads, ", vocab_size ", c.vocab_size, c.shared_classifier ? " shared" : " unshared", ", seq_len ",
              c.seq_len, ") needs exactly ", c.file_bytes(), " bytes; the file is truncated, has extra data, or is not "
              "a version-0 llama2.c checkpoint");
  return c;
}

std::vector<Llama2cToken> read_llama2c_tokenizer(const std::string& tokenizer_bin, int64_t vocab_size) {
  std::string b = read_file(tokenizer_bin);
  RLEIF_CHECK(b.size() >= 4, tokenizer_bin, ": file is ", b.size(),
              " bytes, too short for a llama2.c tokenizer (needs an int32 max_token_length first)");
  int32_t max_len = read_i32(b.data());
  RLEIF_CHECK(max_len > 0 && max_len <= 1 << 16, tokenizer_bin, ": max_token_length ", max_len,
              " is out of range; this is not a llama2.c tokenizer.bin");
  std::vector<Llama2cToken> out;
  size_t o = 4;
  for (int64_t id = 0; id < vocab_size; ++id) {
    RLEIF_CHECK(o + 8 <= b.size(), tokenizer_bin, ": ends at token ", id, " of ", vocab_size,
                "; the tokenizer is truncated or has fewer tokens than the model's vocab_size");
    Llama2cToken t;
    std::memcpy(&t.score, &b[o], 4);
    int32_t len = read_i32(&b[o + 4]);
    o += 8;
    RLEIF_CHECK(std::isfinite(t.score), tokenizer_bin, ": token ", id, " has a non-finite score");
    RLEIF_CHECK(len >= 0 && len <= max_len, tokenizer_bin, ": token ", id, " has length ", len,
                " (expected 0..max_token_length ", max_len, ")");
    RLEIF_CHECK(o + static_cast<size_t>(len) <= b.size(), tokenizer_bin, ": token ", id, " runs past the end of the file");
    t.piece.assign(&b[o], static_cast<size_t>(len));
    o += static_cast<size_t>(len);
    out.push_back(std::move(t));
  }
  RLEIF_CHECK(o == b.size(), tokenizer_bin, ": has ", b.size() - o, " bytes after token ", vocab_size - 1,
              "; it holds more tokens than the model's vocab_size ", vocab_size, " (wrong tokenizer for this model?)");
  return out;
}

json llama2c_tokenizer_json(const std::vector<Llama2cToken>& tokens, const std::string& where) {
  RLEIF_CHECK(tokens.size() >= 3, where, ": a llama2.c vocabulary needs at least <unk>, <s>, </s>; got ",
              tokens.size(), " tokens");
  // llama2.c's export wrote "▁" as a space and <s>/</s> as "\n<s>\n"/"\n</s>\n"; undo both.
  std::vector<std::string> pieces;
  std::map<std::string, int> vocab;
  for (size_t id = 0; id < tokens.size(); ++id) {
    std::string p;
    if (id < 3) {
      p = kSpecial[id];
    } else {
      for (char ch : tokens[id].piece) p += ch == ' ' ? std::string("\xE2\x96\x81") : std::string(1, ch);
    }
    RLEIF_CHECK(!p.empty(), where, ": token ", id, " is empty");
    auto [it, fresh] = vocab.emplace(p, static_cast<int>(id));
    RLEIF_CHECK(fresh, where, ": tokens ", it->second, " and ", id, " are both '", p, "'; pieces must be unique");
    pieces.push_back(p);
  }
  // Every split of a piece into two pieces of the vocabulary is a merge, ranked by the merged piece's
  // score (higher first), ties by merged id then the parts' ids: transformers' SentencePieceExtractor.
  using Merge = std::tuple<float, int, int, int>;  // -score, merged id, left id, right id
  std::vector<Merge> merges;
  for (size_t id = 3; id < pieces.size(); ++id) {
    const std::string& p = pieces[id];
    for (size_t k : char_starts(p)) {
      if (k == 0) continue;
      auto l = vocab.find(p.substr(0, k)), r = vocab.find(p.substr(k));
      if (l == vocab.end() || r == vocab.end() || l->second < 3 || r->second < 3) continue;
      merges.emplace_back(-tokens[id].score, static_cast<int>(id), l->second, r->second);
    }
  }
  std::sort(merges.begin(), merges.end());
  json vocab_json = json::object();
  for (size_t id = 0; id < pieces.size(); ++id) vocab_json[pieces[id]] = id;
  json merges_json = json::array();
  for (const auto& m : merges) merges_json.push_back({pieces[std::get<2>(m)], pieces[std::get<3>(m)]});

  const std::string sp = "\xE2\x96\x81";  // "▁", SentencePiece's visible space
  json special = {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}};
  json bos = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  auto seq = [](const char* id, int type) { return json{{"Sequence", {{"id", id}, {"type_id", type}}}}; };
  json bos1 = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}};
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", {added_token(0, "<unk>"), added_token(1, "<s>"), added_token(2, "</s>")}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", sp}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {bos, seq("A", 0)}},
        {"pair", {bos, seq("A", 0), bos1, seq("B", 1)}},
        {"special_tokens", special}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", sp}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", vocab_json},
        {"merges", merges_json}}},
  };
}

void convert_llama2c(const std::string& model_bin, const std::string& tokenizer_bin, const std::string& out_dir) {
  Llama2cConfig c = read_llama2c_config(model_bin);
  json tok_json = llama2c_tokenizer_json(read_llama2c_tokenizer(tokenizer_bin, c.vocab_size), tokenizer_bin);
  const Layout l = layout_of(c);
  std::vector<float> all(static_cast<size_t>(l.end));
  std::ifstream in(model_bin, std::ios::binary);
  in.seekg(kHeaderBytes);
  RLEIF_CHECK(in.read(reinterpret_cast<char*>(all.data()), static_cast<std::streamsize>(all.size() * sizeof(float))),
              model_bin, ": read failed or the file shrank while being read");
  const float* w = all.data();

  const int64_t V = c.vocab_size, D = c.dim, F = c.hidden_dim, KV = c.kv_dim(), hd = c.head_dim();
  std::vector<TensorData> tensors;
  std::vector<std::vector<float>> owned;  // permuted copies, alive until written
  auto add = [&](const std::string& name, const float* data, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    tensors.push_back({name, DType::F32, std::move(shape), data, static_cast<size_t>(n) * sizeof(float)});
  };
  owned.reserve(static_cast<size_t>(2 * c.n_layers));
  add("model.embed_tokens.weight", w + l.embed, {V, D});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    owned.push_back(permute_rope_rows(w + l.wq + i * D * D, c.n_heads, hd, D));
    add(p + "self_attn.q_proj.weight", owned.back().data(), {D, D});
    owned.push_back(permute_rope_rows(w + l.wk + i * KV * D, c.n_kv_heads, hd, D));
    add(p + "self_attn.k_proj.weight", owned.back().data(), {KV, D});
    add(p + "self_attn.v_proj.weight", w + l.wv + i * KV * D, {KV, D});
    add(p + "self_attn.o_proj.weight", w + l.wo + i * D * D, {D, D});
    add(p + "mlp.gate_proj.weight", w + l.w1 + i * F * D, {F, D});
    add(p + "mlp.down_proj.weight", w + l.w2 + i * D * F, {D, F});
    add(p + "mlp.up_proj.weight", w + l.w3 + i * F * D, {F, D});
    add(p + "input_layernorm.weight", w + l.rms_att + i * D, {D});
    add(p + "post_attention_layernorm.weight", w + l.rms_ffn + i * D, {D});
  }
  add("model.norm.weight", w + l.rms_final, {D});
  if (!c.shared_classifier) add("lm_head.weight", w + l.wcls, {V, D});

  json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", c.dim},
      {"intermediate_size", c.hidden_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.seq_len},
      {"rms_norm_eps", 1e-5},
      {"rope_theta", 10000.0},
      {"tie_word_embeddings", c.shared_classifier},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"torch_dtype", "float32"},
  };
  json tok_config = {
      {"tokenizer_class", "PreTrainedTokenizerFast"},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"},
      {"unk_token", "<unk>"},
      {"add_bos_token", true},
      {"add_eos_token", false},
      {"clean_up_tokenization_spaces", false},
      {"legacy", false},
      {"model_max_length", c.seq_len},
  };
  json gen_config = {{"bos_token_id", 1}, {"eos_token_id", 2}};

  // "out/" names the directory "out"; its temporary sibling must not land inside it. Plain string
  // work: std::filesystem::path calls may bind to libtorch.so's older copies (see core/fs.h).
  std::string dst = out_dir;
  while (dst.size() > 1 && dst.back() == '/') dst.pop_back();
  RLEIF_CHECK(!dst.empty() && dst != "/", "convert llama2c: output directory '", out_dir, "' is not usable");
  std::string tmp = str(dst, ".tmp.", ::getpid());
  remove_tree(tmp);
  make_dirs(tmp);
  try {
    write_safetensors(tmp + "/model.safetensors", tensors, {{"format", "pt"}});
    write_file_atomic(tmp + "/config.json", config.dump(2) + "\n");
    write_file_atomic(tmp + "/tokenizer.json", tok_json.dump(2) + "\n");
    write_file_atomic(tmp + "/tokenizer_config.json", tok_config.dump(2) + "\n");
    write_file_atomic(tmp + "/generation_config.json", gen_config.dump(2) + "\n");
    fsync_path(tmp);
    replace_dir_atomic(tmp, dst);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  log_info("converted ", model_bin, " (", c.n_layers, " layers, dim ", c.dim, ", vocab ", c.vocab_size, ") to ",
           out_dir);
}

}  // namespace rleif::model
