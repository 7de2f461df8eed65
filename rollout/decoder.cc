#include "rollout/decoder.h"

#include "rollout/cpu_decode.h"

#include "model/cpu_gemm.h"
#include "model/cpu_simd.h"

#include <sys/mman.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace rleif::rollout {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;

// Zeroed CPU memory of at least `bytes`, 2 MiB-aligned and advised for transparent huge pages.
torch::Tensor huge_page_block(size_t bytes, const char* what) {
  bytes = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, bytes);
  RLEIF_CHECK(p != nullptr, "rollout: could not allocate ", bytes >> 20, " MiB for the ", what);
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP the pages are ordinary ones
#endif
  std::memset(p, 0, bytes);
  return torch::from_blob(p, {static_cast<int64_t>(bytes)}, [](void* q) { std::free(q); }, torch::kUInt8);
}

// A zeroed cache tensor. On the CPU it sits in 2 MiB-aligned memory marked for transparent huge
// pages: a decode step reads every (row, head) block of every layer, tens of MB scattered over
// thousands of 4 KiB pages, and the TLB misses cost as much as the reads (docs/perf/rollout.md).
torch::Tensor cache_tensor(std::vector<int64_t> sizes, const torch::TensorOptions& opts) {
  if (!opts.device().is_cpu()) return torch::zeros(sizes, opts);
  int64_t numel = 1;
  for (int64_t s : sizes) numel *= s;
  auto block = huge_page_block(static_cast<size_t>(numel) * c10::elementSize(c10::typeMetaToScalarType(opts.dtype())),
                               "KV cache; lower max_batch or max_len");
  return block.view(c10::typeMetaToScalarType(opts.dtype())).narrow(0, 0, numel).view(sizes);
}

// A layer's projections in the order the decode step uses them (and packed_ stores them).
std::array<model::LoraLinear, 7> layer_linears(model::DecoderLayerImpl* layer) {
  auto& a = layer->self_attn;
  auto& m = layer->mlp;
  return {a->q_proj, a->k_proj, a->v_proj, a->o_proj, m->gate_proj, m->up_proj, m->down_proj};
}
enum Proj { kQ, kK, kV, kO, kGate, kUp, kDown };
}  // namespace

Decoder::Decoder(model::CausalLM lm, int64_t slots, int64_t capacity, AttentionKernel kernel)
    : lm_(std::move(lm)), slots_(slots), capacity_(capacity) {
  const auto& cfg = lm_->cfg;
  RLEIF_CHECK(slots >= 1, "rollout: the KV cache needs at least 1 row, got ", slots);
  RLEIF_CHECK(capacity >= 2, "rollout: the KV cache needs at least 2 positions per row, got ", capacity);
  auto params = lm_->parameters();
  RLEIF_CHECK(!params.empty(), "rollout: the model has no parameters");
  // The model's train/eval mode is left as it is: decoding runs under InferenceMode, where nothing in
  // the model depends on it, and a trainer that builds an engine on its policy keeps training it.
  device_ = params[0].device();
  dtype_ = params[0].scalar_type();
  const bool cpu_fp32 = device_.is_cpu() && dtype_ == torch::kFloat32;
  RLEIF_CHECK(kernel != AttentionKernel::fused || cpu_fp32, "rollout: the fused attention kernel needs an fp32 model on "
              "the CPU; this one is ", c10::toString(dtype_), " on ", device_.str(), "; use auto, matmul or sdpa");
  // LoRA adapters are not in the packed weights: a model carrying them decodes through its modules
  // (their forward adds each enabled adapter's update), so the engine samples the policy being trained.
  fused_decode_ = cpu_fp32 && !model::has_lora(*lm_) &&
                  (kernel == AttentionKernel::automatic || kernel == AttentionKernel::fused);
  kernel_ = kernel == AttentionKernel::fused ? AttentionKernel::matmul
            : kernel != AttentionKernel::automatic ? kernel
                                                   : (device_.is_cuda() ? AttentionKernel::sdpa : AttentionKernel::matmul);
  n_heads_ = cfg.num_attention_heads;
  n_kv_heads_ = cfg.num_key_value_heads;
  head_dim_ = cfg.head_size();
  for (const auto& m : *lm_->model->layers) layers_.push_back(m->as<model::DecoderLayerImpl>());
  RLEIF_CHECK(static_cast<int64_t>(layers_.size()) == cfg.num_hidden_layers, "rollout: the model has ",
              layers_.size(), " layers but its config says ", cfg.num_hidden_layers);

  if (fused_decode_ && model::simd::cpu_has_avx2()) pack_weights();
  c10::InferenceMode guard;
  auto opts = torch::TensorOptions().dtype(dtype_).device(device_);
  // One block for every layer's keys and values ([2L, Bc, Hkv, Tmax, D]), sliced per layer.
  auto cache = cache_tensor({2 * cfg.num_hidden_layers, slots_, n_kv_heads_, capacity_, head_dim_}, opts);
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    k_.push_back(cache[2 * l]);
    v_.push_back(cache[2 * l + 1]);
  }
  // The model's own RoPE function, tabulated once, so every position matches its forward exactly.
  slot_index_ = torch::arange(capacity_, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  auto [c, s] = lm_->model->rope.cos_sin(slot_index_.unsqueeze(0), dtype_);  // [1,Tmax,D]
  cos_ = c.squeeze(0).contiguous();
  const int64_t half = head_dim_ / 2;
  auto sn = s.squeeze(0);
  sin_ = torch::cat({-sn.narrow(1, 0, half), sn.narrow(1, half, half)}, 1).contiguous();
}

namespace {
// HF's rotate_half RoPE, x * cos + rotate_half(x) * sin, with rotate_half(x) * sin written as
// swap_halves(x) * sin_signed (the sign of the first half folded into the table): 3 ops, not 6.
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin_signed) {
  auto sizes = x.sizes().vec();
  sizes.back() = 2;
  sizes.push_back(x.size(-1) / 2);
  auto swapped = x.reshape(sizes).flip(-2).view(x.sizes());
  return (x * cos).addcmul_(swapped, sin_signed);
}
}  // namespace

torch::Tensor Decoder::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& mask) const {
  // q [B,T,Hq,D]; k, v [B,Hkv,S,D] (S = kv_len); mask: additive [B,1,1,T,S] fp32 (matmul) or
  // boolean [B,1,T,S] (sdpa) -> [B,T,Hq*D]
  const int64_t b = q.size(0), t = q.size(1), s = k.size(2), g = n_heads_ / n_kv_heads_;
  if (kernel_ == AttentionKernel::sdpa) {
    auto out = at::scaled_dot_product_attention(q.transpose(1, 2), k, v, mask, 0.0, false, std::nullopt,
                                                /*enable_gqa=*/g > 1);  // [B,Hq,T,D]
    return out.transpose(1, 2).reshape({b, t, n_heads_ * head_dim_});
  }
  // Query heads grouped by their key/value head (head h uses kv head h / G, as HF's repeat_kv), so
  // one batched GEMM per (row, kv head) covers the G query heads and T positions. A decode step
  // (T = 1) needs no transpose: [B,1,Hq,D] already is [B,Hkv,G,D].
  auto qg = t == 1 ? q.view({b, n_kv_heads_, g, head_dim_})
                   : q.view({b, t, n_kv_heads_, g, head_dim_}).permute({0, 2, 3, 1, 4}).reshape({b, n_kv_heads_, g * t, head_dim_});
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  auto scores = torch::matmul(qg, k.transpose(-1, -2)).mul_(scale).view({b, n_kv_heads_, g, t, s});
  // Softmax in fp32 as HF's eager attention does, then back to the model dtype.
  scores = scores.scalar_type() == torch::kFloat32 ? scores.add_(mask) : scores.to(torch::kFloat32) + mask;
  auto probs = torch::softmax(scores, -1).to(q.scalar_type());
  auto out = torch::matmul(probs.view({b, n_kv_heads_, g * t, s}), v);  // [B,Hkv,G*T,D]
  if (t == 1) return out.view({b, 1, n_heads_ * head_dim_});
  return out.view({b, n_kv_heads_, g, t, head_dim_}).permute({0, 3, 1, 2, 4}).reshape({b, t, n_heads_ * head_dim_});
}

torch::Tensor Decoder::forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& rows,
                               int64_t kv_len) {
  const int64_t b = ids.size(0), t = ids.size(1);
  RLEIF_CHECK(kv_len >= 1 && kv_len <= capacity_, "rollout: kv_len ", kv_len, " outside [1, ", capacity_, "]");
  RLEIF_CHECK(rows.defined() || b <= slots_, "rollout: batch of ", b, " rows but the cache has ", slots_);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device_);
  auto x = lm_->model->embed_tokens(ids);  // [B,T,H]
  auto flat_pos = positions.reshape({-1});
  auto cos = cos_.index_select(0, flat_pos).view({b, t, 1, head_dim_});
  auto sin = sin_.index_select(0, flat_pos).view({b, t, 1, head_dim_});
  auto row_ids = rows.defined() ? rows : torch::arange(b, i64);
  // Flat cache index of each new (row, position, kv head) in a [Bc*Hkv*Tmax, D] view: [B*T*Hkv].
  auto write_idx = ((row_ids.view({b, 1, 1}) * n_kv_heads_ + torch::arange(n_kv_heads_, i64).view({1, 1, n_kv_heads_})) *
                        capacity_ +
                    positions.view({b, t, 1}))
                       .reshape({-1});
  auto slot = slot_index_.narrow(0, 0, kv_len).view({1, 1, kv_len});
  auto pos = positions.unsqueeze(-1);
  const auto& cfg = lm_->cfg;
  // Visibility [B,T,S]: full causal, and with the window for layers that use one.
  auto make_mask = [&](int64_t window) {
    auto valid = slot <= pos;
    if (window > 0) valid = valid & (slot > pos - window);
    if (kernel_ == AttentionKernel::sdpa) return valid.unsqueeze(1);  // [B,1,T,S]
    return torch::zeros(valid.sizes(), valid.options().dtype(torch::kFloat32))
        .masked_fill_(valid.logical_not(), -std::numeric_limits<float>::infinity())
        .view({b, 1, 1, t, kv_len});
  };
  torch::Tensor mask_full = make_mask(0), mask_window;
  for (int64_t l = 0; l < cfg.num_hidden_layers && !mask_window.defined(); ++l)
    if (cfg.window_for_layer(l) > 0) mask_window = make_mask(cfg.window_for_layer(l));

  for (size_t l = 0; l < layers_.size(); ++l) {
    auto* layer = layers_[l];
    auto& attn = layer->self_attn;
    auto h = layer->input_layernorm(x);
    auto q = apply_rope(attn->q_proj(h).view({b, t, n_heads_, head_dim_}), cos, sin);
    auto k = apply_rope(attn->k_proj(h).view({b, t, n_kv_heads_, head_dim_}), cos, sin);
    auto v = attn->v_proj(h).view({b, t, n_kv_heads_, head_dim_});
    k_[l].view({-1, head_dim_}).index_copy_(0, write_idx, k.reshape({-1, head_dim_}));
    v_[l].view({-1, head_dim_}).index_copy_(0, write_idx, v.reshape({-1, head_dim_}));
    torch::Tensor keys, values;  // [B,Hkv,S,D]
    if (rows.defined()) {
      keys = k_[l].narrow(2, 0, kv_len).index_select(0, rows);
      values = v_[l].narrow(2, 0, kv_len).index_select(0, rows);
    } else {
      keys = k_[l].narrow(0, 0, b).narrow(2, 0, kv_len);
      values = v_[l].narrow(0, 0, b).narrow(2, 0, kv_len);
    }
    const auto& mask = cfg.window_for_layer(static_cast<int64_t>(l)) > 0 ? mask_window : mask_full;
    x = x + attn->o_proj(attend(q, keys, values, mask));
    auto& mlp = layer->mlp;
    auto hn = layer->post_attention_layernorm(x);
    auto gate = mlp->gate_proj(hn);
    auto act = torch::silu_(gate).mul_(mlp->up_proj(hn));  // SwiGLU, in place
    x = x + mlp->down_proj(act);
  }
  return lm_->model->norm(x);
}

void Decoder::pack_weights() {
  using model::cpu::PackedLinear;
  std::vector<model::LoraLinear> lins;
  for (auto* layer : layers_)
    for (const auto& lin : layer_linears(layer)) lins.push_back(lin);
  const auto& head = lm_->lm_head ? lm_->lm_head->weight : lm_->model->embed_tokens->weight;
  int64_t total = PackedLinear::packed_floats(head.size(0), head.size(1));
  for (const auto& lin : lins) total += PackedLinear::packed_floats(lin->weight.size(0), lin->weight.size(1));
  // A second copy of the weights: worth it for the small models CPU decoding is for, not beyond.
  if (total * static_cast<int64_t>(sizeof(float)) > kMaxPackedBytes) return;
  packed_arena_ = huge_page_block(static_cast<size_t>(total) * sizeof(float), "packed decode weights");
  float* at = reinterpret_cast<float*>(packed_arena_.data_ptr());  // 2 MiB-aligned; every slot is a multiple of 16 floats
  for (const auto& lin : lins) {
    packed_.emplace_back(lin->weight, lin->bias, at);
    at += PackedLinear::packed_floats(lin->weight.size(0), lin->weight.size(1));
  }
  packed_.emplace_back(head, lm_->lm_head ? lm_->lm_head->bias : torch::Tensor(), at);
}

void Decoder::refresh_packed() {
  for (auto& p : packed_)
    if (p.stale()) p.pack();
}

void Decoder::decode_layers(torch::Tensor& x, torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                            const std::vector<int64_t>& pos) {
  refresh_packed();
  const int64_t b = x.size(0), qd = n_heads_ * head_dim_, kvd = n_kv_heads_ * head_dim_;
  const int64_t inter = lm_->cfg.intermediate_size;
  // Every per-layer buffer in one allocation, reused by all layers: q, attention output [B,Hq*D];
  // k, v [B,Hkv*D]; gate, up [B,I]. The residual adds happen inside the o/down products.
  auto ws = torch::empty({b * (2 * qd + 2 * kvd + 2 * inter)}, x.options());
  int64_t off = 0;
  auto take = [&](int64_t cols) {
    auto t = ws.narrow(0, off, b * cols).view({b, cols});
    off += b * cols;
    return t;
  };
  auto q = take(qd), a = take(qd), k = take(kvd), v = take(kvd), gate = take(inter), up = take(inter);
  // out (+)= in . W^T for projection p of layer l: the packed kernel, or (weights not packed: no
  // AVX2, or too large) model::cpu::linear, which is torch::linear without AVX2.
  auto project = [&](size_t l, Proj p, const torch::Tensor& in, torch::Tensor& out, bool accumulate) {
    if (!packed_.empty()) return packed_[l * 7 + p].forward(in.data_ptr<float>(), b, out.data_ptr<float>(), accumulate);
    const auto lin = layer_linears(layers_[l])[p];
    auto r = model::cpu::linear(in, lin->weight, lin->bias);
    accumulate ? out.add_(r) : out.copy_(r);
  };
  auto q3 = q.view({b, n_heads_, head_dim_}), a3 = a.view({b, n_heads_, head_dim_});
  auto k3 = k.view({b, n_kv_heads_, head_dim_}), v3 = v.view({b, n_kv_heads_, head_dim_});
  for (size_t l = 0; l < layers_.size(); ++l) {
    auto* layer = layers_[l];
    cpu::rms_norm(x, layer->input_layernorm->weight, layer->input_layernorm->eps, h);
    project(l, kQ, h, q, false);
    project(l, kK, h, k, false);
    project(l, kV, h, v, false);
    cpu::rope(q3, k3, cos, sin);
    cpu::write_cache(k3, v3, pos, k_[l], v_[l]);
    cpu::attend(q3, k_[l], v_[l], pos, lm_->cfg.window_for_layer(static_cast<int64_t>(l)), a3);
    project(l, kO, a, x, /*accumulate=*/true);
    cpu::rms_norm(x, layer->post_attention_layernorm->weight, layer->post_attention_layernorm->eps, h);
    project(l, kGate, h, gate, false);
    project(l, kUp, h, up, false);
    cpu::swiglu(gate, up);
    project(l, kDown, gate, x, /*accumulate=*/true);
  }
}

torch::Tensor Decoder::decode_fused(const std::vector<int64_t>& ids, const std::vector<int64_t>& pos) {
  const int64_t b = static_cast<int64_t>(ids.size());
  RLEIF_CHECK(fused_decode_ && b >= 1 && b <= slots_ && pos.size() == ids.size(), "rollout: bad fused decode call");
  for (int64_t p : pos) RLEIF_CHECK(p >= 0 && p < capacity_, "rollout: position ", p, " outside the cache");
  auto ids_t = torch::from_blob(const_cast<int64_t*>(ids.data()), {b}, torch::kInt64);
  auto pos_t = torch::from_blob(const_cast<int64_t*>(pos.data()), {b}, torch::kInt64);
  auto x = lm_->model->embed_tokens->weight.index_select(0, ids_t);  // [B,H]
  auto cos = cos_.index_select(0, pos_t), sin = sin_.index_select(0, pos_t);  // [B,D]
  auto h = torch::empty_like(x);
  decode_layers(x, h, cos, sin, pos);
  cpu::rms_norm(x, lm_->model->norm->weight, lm_->model->norm->eps, h);
  return h;
}

torch::Tensor Decoder::logits(const torch::Tensor& hidden) {
  // Decode rows on the CPU in fp32 take the small-M GEMM; model::cpu::linear falls back to
  // torch::linear (what CausalLM::logits runs) everywhere else.
  if (fused_decode_ && hidden.dim() == 2 && hidden.size(0) <= model::cpu::kSmallGemmMaxRows && !packed_.empty()) {
    auto& head = packed_.back();  // decode_layers refreshed the rest; logits after a prefill may come first
    if (head.stale()) head.pack();
    return head(hidden.contiguous());
  }
  if (fused_decode_ && hidden.dim() == 2)
    return model::cpu::linear(hidden, lm_->lm_head ? lm_->lm_head->weight : lm_->model->embed_tokens->weight,
                              lm_->lm_head ? lm_->lm_head->bias : torch::Tensor());
  return lm_->logits(hidden);
}

void Decoder::copy_row(int64_t src, int64_t dst, int64_t len) {
  if (src == dst || len <= 0) return;
  for (size_t l = 0; l < k_.size(); ++l) {
    k_[l][dst].narrow(1, 0, len).copy_(k_[l][src].narrow(1, 0, len));
    v_[l][dst].narrow(1, 0, len).copy_(v_[l][src].narrow(1, 0, len));
  }
}

}  // namespace rleif::rollout
