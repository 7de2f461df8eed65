// model/fused_train.h and model/fused_attention.h: the fused fp32 CPU training kernels (RMSNorm, RoPE,
// SwiGLU, causal attention) against the
// tensor-op formulas they replace, values and gradients (the references run in fp64 through autograd),
// and a whole model's gradients with the kernels (fp32, training) against the same model in fp64
// (which takes the tensor-op path).
#include <gtest/gtest.h>

#include <numeric>
#include <thread>

#include "core/error.h"
#include "model/causal_lm.h"
#include "model/cpu_simd.h"
#include "model/fused_attention.h"
#include "model/fused_train.h"

namespace rleif::model {
namespace {

double max_rel(const torch::Tensor& got, const torch::Tensor& want) {
  auto w = want.to(torch::kFloat64), g = got.to(torch::kFloat64);
  return ((g - w).abs().max() / w.abs().max().clamp_min(1e-30)).item<double>();
}

// Runs f on fp32 leaves (the fused kernel) and ref on fp64 copies (autograd through tensor ops),
// backpropagates the same random upstream gradient, and compares outputs and input gradients.
void check(const std::vector<torch::Tensor>& inputs, const std::function<torch::Tensor(std::vector<torch::Tensor>&)>& f,
           const std::function<torch::Tensor(std::vector<torch::Tensor>&)>& ref, double tol) {
  std::vector<torch::Tensor> a, b;
  for (auto& x : inputs) {
    a.push_back(x.to(torch::kFloat32).detach().requires_grad_(x.requires_grad()));
    b.push_back(x.to(torch::kFloat64).detach().requires_grad_(x.requires_grad()));
  }
  auto ya = f(a), yb = ref(b);
  ASSERT_EQ(ya.sizes(), yb.sizes());
  EXPECT_LT(max_rel(ya, yb), tol) << "forward";
  auto up = torch::randn(ya.sizes(), torch::kFloat64);
  ya.backward(up.to(torch::kFloat32));
  yb.backward(up);
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].requires_grad()) {
      EXPECT_LT(max_rel(a[i].grad(), b[i].grad()), tol) << "gradient of input " << i;
    }
  }
}

TEST(FusedTrain, RmsNormValuesAndGradients) {
  torch::manual_seed(1);
  auto x = torch::randn({3, 5, 48}, torch::kFloat64) * 2 + 0.3;
  auto w = torch::randn({48}, torch::kFloat64);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  check({x, w}, [](auto& v) { return fused::rms_norm(v[0], v[1], 1e-6); },
        [](auto& v) { return v[1] * (v[0] * torch::rsqrt(v[0].pow(2).mean(-1, true) + 1e-6)); }, 2e-6);
  // A non-contiguous input (a transposed view) gives the same result as its contiguous copy.
  auto base = torch::randn({48, 7});
  auto wf = torch::randn({48});
  EXPECT_TRUE(torch::allclose(fused::rms_norm(base.t(), wf, 1e-5), fused::rms_norm(base.t().contiguous(), wf, 1e-5)));
}

TEST(FusedTrain, RopeValuesAndGradients) {
  torch::manual_seed(2);
  const int64_t B = 2, T = 6, H = 3, D = 16;
  auto x = torch::randn({B, T, H, D}, torch::kFloat64);
  x.set_requires_grad(true);
  // Independent halves (not the model's cat(freqs, freqs)), so a swapped index shows.
  auto cos = torch::randn({B, T, D}, torch::kFloat64), sin = torch::randn({B, T, D}, torch::kFloat64);
  check({x, cos, sin}, [](auto& v) { return fused::rope(v[0], v[1], v[2]); },
        [](auto& v) {
          auto x1 = v[0].narrow(-1, 0, D / 2), x2 = v[0].narrow(-1, D / 2, D / 2);
          auto rot = torch::cat({-x2, x1}, -1);  // rotate_half
          return v[0] * v[1].unsqueeze(2) + rot * v[2].unsqueeze(2);
        },
        1e-6);
}

TEST(FusedTrain, SwigluValuesAndGradients) {
  torch::manual_seed(3);
  auto g = torch::randn({4, 9, 40}, torch::kFloat64) * 3;
  auto u = torch::randn({4, 9, 40}, torch::kFloat64);
  g.set_requires_grad(true);
  u.set_requires_grad(true);
  check({g, u}, [](auto& v) { return fused::swiglu(v[0], v[1]); },
        [](auto& v) { return torch::silu(v[0]) * v[1]; }, 1e-6);
}

// softmax(q k^T / sqrt(D) + causal mask) v in the [B,T,H,D] layout, through tensor ops (fp64 here).
torch::Tensor attention_reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const int64_t T = q.size(1), rep = q.size(2) / k.size(2);
  auto qh = q.transpose(1, 2), kh = k.transpose(1, 2).repeat_interleave(rep, 1), vh = v.transpose(1, 2);
  auto s = torch::matmul(qh, kh.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(3)));  // [B,H,T,T]
  s = s.masked_fill(torch::ones({T, T}, torch::kBool).triu(1), -std::numeric_limits<double>::infinity());
  return torch::matmul(torch::softmax(s, -1), vh.repeat_interleave(rep, 1)).transpose(1, 2);  // [B,T,Hq,D]
}

TEST(FusedTrain, CausalAttentionValuesAndGradients) {
  // T from one query to several row blocks with a ragged last one; GQA; D from 8 to 64. Scores are
  // scaled up so the softmax is far from uniform.
  struct Case {
    int64_t B, T, Hq, Hkv, D;
  };
  for (const bool avx2 : {true, false}) {
    const bool prev = model::simd::set_avx2_enabled(avx2 && model::simd::cpu_has_avx2());
    for (const Case c : {Case{2, 2, 2, 2, 8}, Case{2, 45, 4, 2, 16}, Case{1, 70, 2, 1, 32}, Case{3, 33, 2, 2, 64}}) {
      SCOPED_TRACE(::testing::Message() << "avx2 " << avx2 << " B " << c.B << " T " << c.T << " Hq " << c.Hq
                                        << " Hkv " << c.Hkv << " D " << c.D);
      torch::manual_seed(c.T);
      auto q = (torch::randn({c.B, c.T, c.Hq, c.D}, torch::kFloat64) * 2).requires_grad_(true);
      auto k = (torch::randn({c.B, c.T, c.Hkv, c.D}, torch::kFloat64) * 2).requires_grad_(true);
      auto v = torch::randn({c.B, c.T, c.Hkv, c.D}, torch::kFloat64).requires_grad_(true);
      check({q, k, v}, [](auto& x) { return fused::causal_attention(x[0], x[1], x[2]); },
            [](auto& x) { return attention_reference(x[0], x[1], x[2]); }, 2e-5);
    }
    // One position: the output is v itself, and q and k get no gradient (a softmax over one key).
    auto q = torch::randn({2, 1, 4, 8}, torch::requires_grad()), k = torch::randn({2, 1, 2, 8}, torch::requires_grad());
    auto v = torch::randn({2, 1, 2, 8});
    auto o = fused::causal_attention(q, k, v);
    EXPECT_TRUE(torch::allclose(o, v.repeat_interleave(2, 2), 1e-6, 1e-6));
    o.sum().backward();
    EXPECT_LT(q.grad().abs().max().item<float>(), 1e-6);
    EXPECT_LT(k.grad().abs().max().item<float>(), 1e-6);
    model::simd::set_avx2_enabled(prev);
  }
}

// Shared prompts (fused::Packing's prefix). Groups: a head with two branches (one of a single token),
// a sequence alone, a head whose one branch shares all its tokens, and a head whose branches share
// different lengths of it. N = 39.
const fused::Packing kShared{{8, 3, 1, 6, 4, 2, 9, 5, 1}, {0, 5, 5, 0, 0, 4, 0, 7, 2}};

// The rows (of the packed row) that make each sequence unshared: its head's first prefix rows, then its own.
std::vector<std::vector<int64_t>> unshared_rows(const fused::Packing& p) {
  std::vector<std::vector<int64_t>> out;
  int64_t start = 0, head = 0;
  for (size_t i = 0; i < p.lengths.size(); ++i) {
    const int64_t pre = p.prefix.empty() ? 0 : p.prefix[i];
    if (pre == 0) head = start;
    std::vector<int64_t> r;
    for (int64_t t = 0; t < pre; ++t) r.push_back(head + t);
    for (int64_t t = 0; t < p.lengths[i]; ++t) r.push_back(start + t);
    out.push_back(r);
    start += p.lengths[i];
  }
  return out;
}

// The kernel on a packed batch (fp32, AVX2 on and off) against each sequence unshared through the
// reference (fp64), values and gradients: a shared prefix's gradients come out of autograd through
// index_select as the sums over its head and branches.
void check_packed_attention(const fused::Packing& p, uint64_t seed) {
  const int64_t N = std::accumulate(p.lengths.begin(), p.lengths.end(), int64_t{0}), Hq = 4, Hkv = 2, D = 16;
  const auto seqs = unshared_rows(p);
  for (const bool avx2 : {true, false}) {
    SCOPED_TRACE(::testing::Message() << "avx2 " << avx2);
    const bool prev = model::simd::set_avx2_enabled(avx2 && model::simd::cpu_has_avx2());
    torch::manual_seed(seed);
    auto q = (torch::randn({1, N, Hq, D}, torch::kFloat64) * 2).requires_grad_(true);
    auto k = (torch::randn({1, N, Hkv, D}, torch::kFloat64) * 2).requires_grad_(true);
    auto v = torch::randn({1, N, Hkv, D}, torch::kFloat64).requires_grad_(true);
    auto each_unshared = [&](auto& x) {
      std::vector<torch::Tensor> outs;
      for (size_t i = 0; i < seqs.size(); ++i) {
        auto rows = torch::tensor(seqs[i], torch::kInt64);
        auto o = attention_reference(x[0].index_select(1, rows), x[1].index_select(1, rows), x[2].index_select(1, rows));
        outs.push_back(o.narrow(1, o.size(1) - p.lengths[i], p.lengths[i]));  // the sequence's own rows
      }
      return torch::cat(outs, 1);
    };
    check({q, k, v}, [&](auto& x) { return fused::causal_attention(x[0], x[1], x[2], p); }, each_unshared, 2e-5);
    model::simd::set_avx2_enabled(prev);
  }
}

// Packed sequences (padding-free batches): each sequence attends only within itself, as if alone.
TEST(FusedTrain, CausalAttentionOnPackedSequencesEqualsEachSequenceAlone) {
  check_packed_attention({{1, 7, 33, 14, 2}, {}}, 11);
  auto q = torch::randn({1, 10, 2, 8}), k = torch::randn({1, 10, 2, 8});
  EXPECT_THROW(fused::causal_attention(q, k, k, {{4, 5}, {}}), Error);   // lengths sum to 9, not 10
  EXPECT_THROW(fused::causal_attention(q, k, k, {{10, 0}, {}}), Error);  // an empty sequence
  EXPECT_THROW(fused::causal_attention(torch::randn({2, 5, 2, 8}), torch::randn({2, 5, 2, 8}),
                                       torch::randn({2, 5, 2, 8}), {{5, 5}, {}}),
               Error);  // packed sequences come as one row
}

// A branch sees its head's first `prefix` rows and itself, as the unshared sequence would.
TEST(FusedTrain, CausalAttentionWithSharedPrefixesEqualsEachSequenceUnshared) {
  check_packed_attention(kShared, 12);
  auto q = torch::randn({1, 10, 2, 8}), k = torch::randn({1, 10, 2, 8});
  EXPECT_THROW(fused::causal_attention(q, k, k, {{4, 6}, {0}}), Error);     // one prefix for two sequences
  EXPECT_THROW(fused::causal_attention(q, k, k, {{4, 6}, {2, 0}}), Error);  // the first sequence is a head
  EXPECT_THROW(fused::causal_attention(q, k, k, {{4, 6}, {0, 5}}), Error);  // shares more than its head's 4
  EXPECT_THROW(fused::causal_attention(q, k, k, {{4, 6}, {0, -1}}), Error);
  EXPECT_EQ((fused::Packing{{4, 6}, {0, 4}}.longest()), 10);
}

// Output and input gradients with 1 and 2 threads, bitwise: q [B,T,4,32], k, v [B,T,2,32].
void expect_thread_count_independent(int64_t B, int64_t T, const fused::Packing& p, uint64_t seed) {
  torch::manual_seed(seed);
  auto q = torch::randn({B, T, 4, 32}), k = torch::randn({B, T, 2, 32}), v = torch::randn({B, T, 2, 32});
  auto up = torch::randn({B, T, 4, 32});
  auto run = [&](int threads) {
    const int prev = at::get_num_threads();
    at::set_num_threads(threads);
    auto a = q.clone().requires_grad_(true), b = k.clone().requires_grad_(true), c = v.clone().requires_grad_(true);
    auto o = fused::causal_attention(a, b, c, p);
    o.backward(up);
    at::set_num_threads(prev);
    return std::vector<torch::Tensor>{o.detach(), a.grad(), b.grad(), c.grad()};
  };
  auto one = run(1), two = run(2);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(torch::equal(one[i], two[i])) << "output/gradient " << i;
}

TEST(FusedTrain, CausalAttentionDoesNotDependOnTheThreadCount) {
  expect_thread_count_independent(3, 50, {}, 7);
  expect_thread_count_independent(1, 39, kShared, 8);  // a shared prefix's dK, dV: one task sums them
}

// at::parallel_for's `#pragma omp parallel` is compiled into rleif's own translation units: without
// -fopenmp (cmake/RleifDeps.cmake) every rleif kernel silently ran on one thread.
TEST(FusedTrain, ParallelForInRleifCodeUsesTheRequestedThreads) {
#if defined(RLEIF_SANITIZER_BUILD) && !defined(_OPENMP)
  GTEST_SKIP() << "sanitizer build: compiled without OpenMP on purpose (clang's libomp would be a second runtime "
                  "beside LibTorch's libgomp)";
#endif
  const int prev = at::get_num_threads();
  at::set_num_threads(2);
  std::vector<std::thread::id> ids(2);
  at::parallel_for(0, 2, 1, [&](int64_t a, int64_t z) {
    for (int64_t i = a; i < z; ++i) ids[static_cast<size_t>(i)] = std::this_thread::get_id();
  });
  at::set_num_threads(prev);
  EXPECT_NE(ids[0], ids[1]) << "rleif was built without OpenMP: its at::parallel_for loops run serially";
}

TEST(FusedTrain, AppliesOnlyToCpuFp32WhileRecordingGradients) {
  auto x = torch::zeros({2, 2});
  EXPECT_TRUE(fused::applies(x));
  EXPECT_FALSE(fused::applies(x.to(torch::kFloat64)));
  EXPECT_FALSE(fused::applies(x.to(torch::kBFloat16)));
  {
    // The attention kernel runs without gradients too: a checkpointed layer's forward (no grad)
    // and its recompute (grad) must take the same path.
    torch::NoGradGuard g;
    EXPECT_FALSE(fused::applies(x));
    EXPECT_TRUE(fused::attention_applies(x, 2));
  }
  EXPECT_TRUE(fused::attention_applies(x, fused::kMaxAttentionLength));
  EXPECT_FALSE(fused::attention_applies(x, fused::kMaxAttentionLength + 1));
  {
    c10::InferenceMode g;
    EXPECT_FALSE(fused::applies(x));
    EXPECT_FALSE(fused::attention_applies(x, 2));
  }
  EXPECT_FALSE(fused::attention_applies(x.to(torch::kFloat64), 2));
}

// A 2-layer Llama with grouped-query attention (4 query heads, 2 kv heads, hidden 32).
ModelConfig small_llama() {
  return ModelConfig::from_json(
      nlohmann::json{{"model_type", "llama"}, {"vocab_size", 50}, {"hidden_size", 32}, {"intermediate_size", 48},
                     {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                     {"max_position_embeddings", 64}},
      "test");
}

// f(model, dtype) on the same initial weights in fp32 (the fused kernels) and fp64 (tensor ops and masks),
// with and without gradient checkpointing, in training mode.
void for_each_packed_setup(const std::function<void(CausalLM&, torch::ScalarType)>& f) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const bool ckpt : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "dtype " << dtype << " checkpointing " << ckpt);
      torch::manual_seed(4);
      CausalLM m(small_llama());
      m->to(dtype);
      m->train();
      m->model->set_gradient_checkpointing(ckpt);
      f(m, dtype);
    }
  }
}

// The backbone's parameter gradients (copies), which are then zeroed.
std::vector<torch::Tensor> take_grads(CausalLM& m) {
  std::vector<torch::Tensor> g;
  for (auto& p : m->model->parameters()) g.push_back(p.grad().clone()), p.mutable_grad().zero_();
  return g;
}

TEST(FusedTrain, ModelGradientsMatchTheTensorOpPathInFp64) {
  const ModelConfig cfg = small_llama();
  torch::manual_seed(4);
  CausalLM m32(cfg);
  for (auto& p : m32->parameters()) {
    torch::NoGradGuard g;
    p.copy_(torch::randn(p.sizes()) * 0.2 + (p.dim() == 1 ? 1.0 : 0.0));
  }
  CausalLM m64(cfg);
  {
    torch::NoGradGuard g;
    auto src = m32->named_parameters();
    for (auto& p : m64->named_parameters()) p.value().copy_(src[p.key()]);
  }
  m64->to(torch::kFloat64);
  auto ids = torch::randint(0, 50, {3, 11}, torch::kInt64);
  auto loss = [&](CausalLM& m) {
    auto logits = m->forward(ids);  // [B,T,V]
    return torch::nn::functional::cross_entropy(logits.narrow(1, 0, 10).reshape({-1, 50}).to(torch::kFloat64),
                                                ids.narrow(1, 1, 10).reshape({-1}));
  };
  auto l32 = loss(m32), l64 = loss(m64);
  EXPECT_NEAR(l32.item<double>(), l64.item<double>(), 1e-5);
  l32.backward();
  l64.backward();
  auto g64 = m64->named_parameters();
  for (auto& p : m32->named_parameters())
    EXPECT_LT(max_rel(p.value().grad(), g64[p.key()].grad()), 1e-4) << p.key();
}

// Transformer::forward_packed: hidden states of sequences laid back to back equal each sequence's
// own forward, through the fused kernel (fp32) and through the block-diagonal mask (fp64, where the
// kernel does not apply), with gradients, and with gradient checkpointing.
TEST(FusedTrain, PackedForwardEqualsEachSequenceAlone) {
  const ModelConfig cfg = small_llama();
  const std::vector<int64_t> lengths{9, 1, 17, 4};
  torch::manual_seed(5);
  auto ids = torch::randint(0, 50, {1, 31}, torch::kInt64);
  for_each_packed_setup([&](CausalLM& m, torch::ScalarType dtype) {
    EXPECT_EQ(m->model->packed_is_fast(17), dtype == torch::kFloat32);
    auto up = torch::randn({1, 31, 32}, dtype);
    auto packed = m->model->forward_packed(ids, lengths);  // [1,31,32]
    (packed * up).sum().backward();
    auto g_packed = take_grads(m);
    std::vector<torch::Tensor> alone;
    int64_t start = 0;
    for (int64_t L : lengths) {
      auto h = m->model->forward(ids.narrow(1, start, L));  // [1,L,32]
      (h * up.narrow(1, start, L)).sum().backward();
      alone.push_back(h.detach());
      start += L;
    }
    const double tol = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
    EXPECT_LT(max_rel(packed.detach(), torch::cat(alone, 1)), tol);
    size_t i = 0;
    for (auto& p : m->model->named_parameters()) EXPECT_LT(max_rel(g_packed[i++], p.value().grad()), tol * 10) << p.key();
  });
  CausalLM m(cfg);
  EXPECT_THROW(m->model->forward_packed(ids, {9, 1, 17}), Error);  // 27 tokens, not 31
  EXPECT_THROW(m->model->forward_packed(ids.view({31, 1}), {31}), Error);
}

// Transformer::forward_packed with shared prefixes: each row's hidden state and every parameter's
// gradient equal the unshared packing's (whose branches repeat their prompt; the loss reads the rows
// the shared packing has, so a prompt counts once), through the fused kernel (fp32) and the mask
// (fp64), with and without gradient checkpointing.
TEST(FusedTrain, PackedForwardWithSharedPrefixesEqualsUnshared) {
  const ModelConfig cfg = small_llama();
  const auto seqs = unshared_rows(kShared);
  std::vector<int64_t> gather, full_lengths, own;  // own: where each shared row sits in the unshared row
  for (size_t i = 0; i < seqs.size(); ++i) {
    for (int64_t t = 0; t < kShared.lengths[i]; ++t)
      own.push_back(static_cast<int64_t>(gather.size()) + kShared.prefix[i] + t);
    gather.insert(gather.end(), seqs[i].begin(), seqs[i].end());
    full_lengths.push_back(static_cast<int64_t>(seqs[i].size()));
  }
  torch::manual_seed(6);
  auto ids = torch::randint(0, 50, {1, 39}, torch::kInt64);
  auto ids_unshared = ids.index_select(1, torch::tensor(gather, torch::kInt64));  // [1,59]
  auto own_rows = torch::tensor(own, torch::kInt64);
  for_each_packed_setup([&](CausalLM& m, torch::ScalarType dtype) {
    auto up = torch::randn({1, 39, 32}, dtype);
    auto shared = m->model->forward_packed(ids, kShared.lengths, kShared.prefix);  // [1,39,32]
    (shared * up).sum().backward();
    auto g_shared = take_grads(m);
    auto unshared = m->model->forward_packed(ids_unshared, full_lengths).index_select(1, own_rows);  // [1,39,32]
    (unshared * up).sum().backward();
    auto g_unshared = take_grads(m);
    // fp64: RMSNorm normalises in fp32 (as transformers' LlamaRMSNorm), so its backward rounds a shared
    // prompt's gradient (the sum over its branches) once, the unshared copies' each on their own: the
    // gradients below the last layer's norm differ at ~2e-8.
    const double tol = dtype == torch::kFloat32 ? 1e-5 : 1e-7;
    EXPECT_LT(max_rel(shared.detach(), unshared.detach()), tol);
    const auto named = m->model->named_parameters();
    for (size_t i = 0; i < named.size(); ++i) EXPECT_LT(max_rel(g_shared[i], g_unshared[i]), tol) << named[i].key();
  });
  CausalLM m(cfg);
  EXPECT_THROW(m->model->forward_packed(ids, kShared.lengths, {0, 5}), Error);  // a prefix per sequence
  EXPECT_THROW(m->model->forward_packed(ids, kShared.lengths, {0, 5, 5, 0, 0, 5, 0, 7, 2}), Error);  // head has 4
}

}  // namespace
}  // namespace rleif::model
