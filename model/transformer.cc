#include "model/transformer.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "model/fused_attention.h"
#include "model/fused_train.h"

namespace rleif::model {
namespace F = torch::nn::functional;
using torch::indexing::Slice;

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  if (fused::applies(x)) return fused::rms_norm(x, weight, eps);
  // As transformers' LlamaRMSNorm: normalise in fp32, cast back, then scale.
  auto h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

RotaryEmbedding::RotaryEmbedding(const ModelConfig& cfg) {
  const int64_t d = cfg.head_size();
  auto idx = torch::arange(0, d, 2, torch::kInt64).to(torch::kFloat32);
  inv_freq = 1.0 / torch::pow(torch::tensor(cfg.rope_theta, torch::kFloat32), idx / static_cast<double>(d));
  if (cfg.rope_type == RopeType::linear) {
    inv_freq = inv_freq / cfg.rope_factor;
  } else if (cfg.rope_type == RopeType::llama3) {
    // transformers' _compute_llama3_parameters: long wavelengths are divided by `factor`, short
    // ones kept, and the band between is interpolated smoothly.
    const double factor = cfg.rope_factor, lo = cfg.rope_low_freq_factor, hi = cfg.rope_high_freq_factor;
    const double old_ctx = static_cast<double>(cfg.rope_original_max_position_embeddings);
    const double low_freq_wavelen = old_ctx / lo, high_freq_wavelen = old_ctx / hi;
    auto wavelen = 2 * M_PI / inv_freq;
    auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
    auto smooth = (old_ctx / wavelen - lo) / (hi - lo);
    auto smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    auto medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
    inv_freq = torch::where(medium, smoothed, scaled);
  }
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cos_sin(const torch::Tensor& positions,
                                                                 torch::ScalarType dtype) const {
  auto f = inv_freq.to(positions.device());
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * f;  // [B,T,D/2]
  auto emb = torch::cat({freqs, freqs}, -1);                      // [B,T,D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

namespace {

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto d = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, d, d), x.narrow(-1, 0, d)}, -1);
}

// x [B,Hx,T,D], cos/sin [B,T,D].
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  return x * c + rotate_half(x) * s;
}

LoraLinear linear(int64_t in, int64_t out, bool bias) {
  return LoraLinear(torch::nn::LinearOptions(in, out).bias(bias));
}

// Boolean attention mask [B,1,Tq,Tk]: key at position kp is visible to a query at position qp when
// kp <= qp (and kp > qp - window with a sliding window).
torch::Tensor position_mask(const torch::Tensor& q_pos, const torch::Tensor& k_pos, int64_t window) {
  auto q = q_pos.unsqueeze(2);  // [B,Tq,1]
  auto k = k_pos.unsqueeze(1);  // [B|1,1,Tk]
  auto m = k <= q;
  if (window > 0) m = m.logical_and(k > q - window);
  return m.unsqueeze(1);
}

}  // namespace

AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : n_heads(cfg.num_attention_heads), n_kv_heads(cfg.num_key_value_heads), head_dim(cfg.head_size()) {
  const bool qkv_bias = cfg.attention_bias || cfg.qkv_bias;
  q_proj = register_module("q_proj", linear(cfg.hidden_size, n_heads * head_dim, qkv_bias));
  k_proj = register_module("k_proj", linear(cfg.hidden_size, n_kv_heads * head_dim, qkv_bias));
  v_proj = register_module("v_proj", linear(cfg.hidden_size, n_kv_heads * head_dim, qkv_bias));
  o_proj = register_module("o_proj", linear(n_heads * head_dim, cfg.hidden_size, cfg.attention_bias));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     const torch::Tensor& mask, const fused::Packing* packed) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj(x).view({B, T, n_heads, head_dim});     // [B,T,Hq,D]
  auto k = k_proj(x).view({B, T, n_kv_heads, head_dim});  // [B,T,Hkv,D]
  auto v = v_proj(x).view({B, T, n_kv_heads, head_dim});  // [B,T,Hkv,D]
  const int64_t longest = packed ? packed->longest() : T;
  if (!mask.defined() && fused::attention_applies(q, longest)) {
    // CPU fp32, causal: per-head register-tiled products in the projections' layout (model/fused_attention.h).
    static const fused::Packing rows_of_t;  // not packed: B rows of T
    auto out = fused::causal_attention(fused::rope(q, cos, sin), fused::rope(k, cos, sin), v,
                                       packed ? *packed : rows_of_t);  // [B,T,Hq,D]
    return o_proj(out.view({B, T, n_heads * head_dim}));
  }
  RLEIF_CHECK(!packed || mask.defined(), "Attention: packed sequences need the fused kernel or a mask");
  if (fused::applies(q)) {
    q = fused::rope(q, cos, sin).transpose(1, 2);  // [B,Hq,T,D]
    k = fused::rope(k, cos, sin).transpose(1, 2);  // [B,Hkv,T,D]
  } else {
    q = apply_rope(q.transpose(1, 2), cos, sin);
    k = apply_rope(k.transpose(1, 2), cos, sin);
  }
  v = v.transpose(1, 2);  // [B,Hkv,T,D]
  torch::Tensor out;
  const bool causal = !mask.defined();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  out = at::scaled_dot_product_attention(q, k, v, causal ? c10::optional<torch::Tensor>() : mask, 0.0, causal,
                                         c10::nullopt, /*enable_gqa=*/n_heads != n_kv_heads);
#else
  if (n_heads != n_kv_heads) {
    k = k.repeat_interleave(n_heads / n_kv_heads, 1);
    v = v.repeat_interleave(n_heads / n_kv_heads, 1);
  }
  out = at::scaled_dot_product_attention(q, k, v, causal ? c10::optional<torch::Tensor>() : mask, 0.0, causal);
#endif
  return o_proj(out.transpose(1, 2).reshape({B, T, n_heads * head_dim}));
}

MlpImpl::MlpImpl(const ModelConfig& cfg) {
  gate_proj = register_module("gate_proj", linear(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias));
  up_proj = register_module("up_proj", linear(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias));
  down_proj = register_module("down_proj", linear(cfg.intermediate_size, cfg.hidden_size, cfg.mlp_bias));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  if (fused::applies(x)) return down_proj(fused::swiglu(gate_proj(x), up_proj(x)));
  return down_proj(F::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& cfg) {
  self_attn = register_module("self_attn", Attention(cfg));
  mlp = register_module("mlp", Mlp(cfg));
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
}

namespace {

// One decoder layer: x [B,T,H] -> [B,T,H].
torch::Tensor layer_forward(DecoderLayerImpl& layer, const torch::Tensor& x, const torch::Tensor& cos,
                            const torch::Tensor& sin, const torch::Tensor& mask, const fused::Packing* packed) {
  auto h = x + layer.self_attn->forward(layer.input_layernorm(x), cos, sin, mask, packed);
  return h + layer.mlp(layer.post_attention_layernorm(h));
}

// Gradient checkpointing: the forward runs without saving activations; backward recomputes the
// layer with grad enabled and backpropagates through it (parameter grads accumulate directly).
// Only x is an autograd input: cos/sin/mask carry no gradient and may be undefined (SDPA's causal
// path), which a custom Function cannot take as an input tensor.
struct LayerInputs {
  torch::Tensor cos, sin, mask;
  DecoderLayerImpl* layer;
  const fused::Packing* packed;  // packed sequences, or nullptr
};
struct CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, const LayerInputs* in) {
    const auto& [cos, sin, mask, layer, packed] = *in;
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["packed"] = packed != nullptr;
    if (packed) {
      ctx->saved_data["lengths"] = packed->lengths;
      ctx->saved_data["prefix"] = packed->prefix;
    }
    ctx->saved_data["cos"] = cos;
    ctx->saved_data["sin"] = sin;
    ctx->saved_data["has_mask"] = mask.defined();
    if (mask.defined()) ctx->saved_data["mask"] = mask;
    ctx->save_for_backward({x});
    torch::NoGradGuard no_grad;
    return layer_forward(*layer, x, cos, sin, mask, packed);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    const auto cos = ctx->saved_data["cos"].toTensor(), sin = ctx->saved_data["sin"].toTensor();
    const auto mask = ctx->saved_data["has_mask"].toBool() ? ctx->saved_data["mask"].toTensor() : torch::Tensor();
    std::optional<fused::Packing> packed;
    if (ctx->saved_data["packed"].toBool())
      packed = fused::Packing{ctx->saved_data["lengths"].toIntVector(), ctx->saved_data["prefix"].toIntVector()};
    auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode enable(true);
      out = layer_forward(*layer, x, cos, sin, mask, packed ? &*packed : nullptr);
    }
    torch::autograd::backward({out}, {grads[0]});
    return {x.grad(), torch::Tensor()};
  }
};

}  // namespace

TransformerImpl::TransformerImpl(const ModelConfig& c) : cfg(c), rope(c) {
  cfg.validate("model config");
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(cfg.vocab_size, cfg.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) layers->push_back(DecoderLayer(cfg));
  norm = register_module("norm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& ids, const torch::Tensor& positions_in) {
  RLEIF_CHECK(ids.dim() == 2, "Transformer::forward: ids must be [B,T], got ", ids.dim(), " dims");
  const int64_t B = ids.size(0), T = ids.size(1);
  const bool default_positions = !positions_in.defined();
  auto positions = default_positions
                       ? torch::arange(T, ids.options().dtype(torch::kInt64)).unsqueeze(0).expand({B, T})
                       : positions_in.to(torch::kInt64);
  RLEIF_CHECK(positions.sizes() == ids.sizes(), "Transformer::forward: positions ", positions.sizes(),
              " must match ids ", ids.sizes());
  auto x = embed_tokens(ids);  // [B,T,H]
  auto [cos, sin] = rope.cos_sin(positions, x.scalar_type());

  torch::Tensor mask_full, mask_window;
  bool any_window = false;
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) any_window = any_window || cfg.window_for_layer(l) > 0;
  if (!default_positions || any_window) {
    mask_full = position_mask(positions, positions, 0);
    if (any_window) mask_window = position_mask(positions, positions, cfg.sliding_window);
  }
  // With default positions and no window, mask_full stays undefined: SDPA's is_causal path.
  return run_layers(x, cos, sin, mask_full, mask_window, nullptr);
}

torch::Tensor TransformerImpl::run_layers(torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin,
                                          const torch::Tensor& mask_full, const torch::Tensor& mask_window,
                                          const fused::Packing* packed) {
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    auto& layer = *layers[l]->as<DecoderLayerImpl>();
    const auto& mask = cfg.window_for_layer(l) > 0 ? mask_window : mask_full;
    if (checkpointing_ && is_training() && torch::GradMode::is_enabled()) {
      const LayerInputs in{cos, sin, mask, &layer, packed};
      x = CheckpointedLayer::apply(x, &in);
    } else {
      x = layer_forward(layer, x, cos, sin, mask, packed);
    }
  }
  return norm(x);
}

bool TransformerImpl::packed_is_fast(int64_t longest) const {
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l)
    if (cfg.window_for_layer(l) > 0) return false;
  // Under CPU autocast the projections (and so q) are bf16, which the fused kernel does not take.
  return fused::attention_applies(embed_tokens->weight, longest) && !at::autocast::is_autocast_enabled(at::kCPU);
}

torch::Tensor TransformerImpl::forward_packed(const torch::Tensor& ids, const std::vector<int64_t>& lengths,
                                              const std::vector<int64_t>& prefix) {
  RLEIF_CHECK(ids.dim() == 2 && ids.size(0) == 1, "Transformer::forward_packed: ids must be [1,N], got ", ids.sizes());
  const fused::Packing packing{lengths, prefix};
  packing.validate(ids.size(1), "Transformer::forward_packed");
  // Per token: its position, its sequence, its group's head, and how many of the head's first tokens it sees.
  std::vector<int64_t> pos, seg, head, shared;
  int64_t h = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const int64_t pre = prefix.empty() ? 0 : prefix[i];
    if (pre == 0) h = static_cast<int64_t>(i);
    for (int64_t t = 0; t < lengths[i]; ++t) {
      pos.push_back(pre + t);
      seg.push_back(static_cast<int64_t>(i));
      head.push_back(h);
      shared.push_back(pre);
    }
  }
  const auto dev = ids.device();
  auto row = [&](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64).to(dev).unsqueeze(0); };
  auto positions = row(pos);    // [1,N]
  auto x = embed_tokens(ids);  // [1,N,H]
  auto [cos, sin] = rope.cos_sin(positions, x.scalar_type());
  torch::Tensor mask_full, mask_window;
  if (!packed_is_fast(packing.longest())) {
    // Keys of the same sequence at earlier positions, and a branch's shared prefix in its head (and
    // within the window where there is one).
    auto s = row(seg), hd = row(head), sh = row(shared);                      // [1,N]
    auto same = s.unsqueeze(2) == s.unsqueeze(1);                            // [1,N,N]
    auto in_prefix = (s.unsqueeze(1) == hd.unsqueeze(2)).logical_and(positions.unsqueeze(1) < sh.unsqueeze(2));
    auto visible = same.logical_or(in_prefix).unsqueeze(1);                  // [1,1,N,N]
    mask_full = position_mask(positions, positions, 0).logical_and(visible);
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l)
      if (cfg.window_for_layer(l) > 0) {
        mask_window = position_mask(positions, positions, cfg.sliding_window).logical_and(visible);
        break;
      }
  }
  return run_layers(x, cos, sin, mask_full, mask_window, &packing);
}

}  // namespace rleif::model
