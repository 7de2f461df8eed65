#include "model/fused_train.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "core/error.h"
#include "model/cpu_simd.h"

namespace rleif::model::fused {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kGrain = 16384;  // elements per parallel chunk

struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& w, double eps) {
    auto x = x_in.contiguous();
    const int64_t h = x.size(-1), n = x.numel() / h;
    auto y = torch::empty_like(x);
    auto rstd = torch::empty({n}, x.options());  // [N] 1 / sqrt(mean(x^2) + eps)
    rms_norm_rows(x.data_ptr<float>(), w.data_ptr<float>(), n, h, eps, y.data_ptr<float>(), rstd.data_ptr<float>());
    ctx->save_for_backward({x, w, rstd});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // xhat = x * r; dxhat = dy * w; dx = r * (dxhat - xhat * mean(dxhat * xhat)); dw = sum_rows dy * xhat.
    auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &rstd = saved[2];
    auto dy = grads[0].contiguous();
    const int64_t h = x.size(-1), n = x.numel() / h;
    auto dx = torch::empty_like(x);
    auto dyx = torch::empty_like(x);  // dy * xhat, summed over rows for dw
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* rp = rstd.data_ptr<float>();
    const float* gp = dy.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    float* ep = dyx.data_ptr<float>();
    at::parallel_for(0, n, std::max<int64_t>(1, kGrain / h), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = xp + r * h;
        const float* gr = gp + r * h;
        float* dxr = dxp + r * h;
        float* er = ep + r * h;
        const float inv = rp[r];
        // dxr holds dxhat, er holds xhat, then both are finished in place.
        for (int64_t i = 0; i < h; ++i) dxr[i] = gr[i] * wp[i], er[i] = xr[i] * inv;
        const float m = dot(dxr, er, h) / static_cast<float>(h);
        for (int64_t i = 0; i < h; ++i) {
          dxr[i] = inv * (dxr[i] - er[i] * m);
          er[i] *= gr[i];
        }
      }
    });
    return {dx, dyx.view({n, h}).sum(0), torch::Tensor()};
  }
};

// y1 = x1 c1 - x2 s1, y2 = x2 c2 + x1 s2 (forward); dx1 = dy1 c1 + dy2 s2, dx2 = dy2 c2 - dy1 s1
// (backward, the transpose). x, out [B,T,Hx,D]; cos, sin [B,T,D].
void rope_loop(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, torch::Tensor& out,
               bool transpose) {
  const int64_t bt = x.size(0) * x.size(1), hx = x.size(2), d = x.size(3), half = d / 2;
  const float* xp = x.data_ptr<float>();
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, bt, std::max<int64_t>(1, kGrain / (hx * d)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* c = cp + p * d;
      const float* s = sp + p * d;
      for (int64_t hh = 0; hh < hx; ++hh) {
        const float* xv = xp + (p * hx + hh) * d;
        float* ov = op + (p * hx + hh) * d;
        if (!transpose) {
          for (int64_t i = 0; i < half; ++i) {
            ov[i] = xv[i] * c[i] - xv[i + half] * s[i];
            ov[i + half] = xv[i + half] * c[i + half] + xv[i] * s[i + half];
          }
        } else {
          for (int64_t i = 0; i < half; ++i) {
            ov[i] = xv[i] * c[i] + xv[i + half] * s[i + half];
            ov[i + half] = xv[i + half] * c[i + half] - xv[i] * s[i];
          }
        }
      }
    }
  });
}

struct RopeFn : torch::autograd::Function<RopeFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& cos_in,
                               const torch::Tensor& sin_in) {
    auto x = x_in.contiguous();
    auto cos = cos_in.contiguous(), sin = sin_in.contiguous();
    auto y = torch::empty_like(x);
    rope_loop(x, cos, sin, y, /*transpose=*/false);
    ctx->save_for_backward({cos, sin});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto dy = grads[0].contiguous();
    auto dx = torch::empty_like(dy);
    rope_loop(dy, saved[0], saved[1], dx, /*transpose=*/true);
    return {dx, torch::Tensor(), torch::Tensor()};
  }
};

// SwiGLU's element loops: y = g s u with s = sigmoid(g) (forward, which keeps s for the backward),
// and dgate = dy u s (1 + g (1 - s)), dup = dy g s (backward). AVX2 versions (model/cpu_simd.h's
// exp) where the CPU has them, else std::exp.
void swiglu_forward_loop(const float* g, const float* u, float* y, float* sig, int64_t a, int64_t z) {
  for (int64_t i = a; i < z; ++i) {
    const float s = 1.0f / (1.0f + std::exp(-g[i]));
    sig[i] = s;
    y[i] = g[i] * s * u[i];
  }
}

void swiglu_backward_loop(const float* g, const float* u, const float* sig, const float* dy, float* dg, float* du,
                          int64_t a, int64_t z) {
  for (int64_t i = a; i < z; ++i) {
    const float s = sig[i];
    dg[i] = dy[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
    du[i] = dy[i] * (g[i] * s);
  }
}

#if RLEIF_HAVE_AVX2_KERNELS
RLEIF_AVX2 void swiglu_forward_avx2(const float* g, const float* u, float* y, float* sig, int64_t a, int64_t z) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = a;
  for (; i + 8 <= z; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, simd::exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    _mm256_storeu_ps(sig + i, s);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_loadu_ps(u + i)));
  }
  swiglu_forward_loop(g, u, y, sig, i, z);
}

RLEIF_AVX2 void swiglu_backward_avx2(const float* g, const float* u, const float* sig, const float* dy, float* dg,
                                     float* du, int64_t a, int64_t z) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = a;
  for (; i + 8 <= z; i += 8) {
    const __m256 s = _mm256_loadu_ps(sig + i), x = _mm256_loadu_ps(g + i), d = _mm256_loadu_ps(dy + i);
    const __m256 ds = _mm256_mul_ps(s, _mm256_add_ps(one, _mm256_mul_ps(x, _mm256_sub_ps(one, s))));
    _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(u + i)), ds));
    _mm256_storeu_ps(du + i, _mm256_mul_ps(d, _mm256_mul_ps(x, s)));
  }
  swiglu_backward_loop(g, u, sig, dy, dg, du, i, z);
}
#endif

struct SwigluFn : torch::autograd::Function<SwigluFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate_in, const torch::Tensor& up_in) {
    auto g = gate_in.contiguous(), u = up_in.contiguous();
    auto sig = torch::empty_like(g);
    auto y = torch::empty_like(g);
    const float* gp = g.data_ptr<float>();
    const float* up = u.data_ptr<float>();
    float* sp = sig.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, g.numel(), kGrain, [&](int64_t a, int64_t z) {
#if RLEIF_HAVE_AVX2_KERNELS
      if (simd::cpu_has_avx2()) return swiglu_forward_avx2(gp, up, yp, sp, a, z);
#endif
      swiglu_forward_loop(gp, up, yp, sp, a, z);
    });
    ctx->save_for_backward({g, u, sig});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &g = saved[0], &u = saved[1], &sig = saved[2];
    auto dy = grads[0].contiguous();
    auto dg = torch::empty_like(g), du = torch::empty_like(u);
    const float* gp = g.data_ptr<float>();
    const float* up = u.data_ptr<float>();
    const float* sp = sig.data_ptr<float>();
    const float* yp = dy.data_ptr<float>();
    float* dgp = dg.data_ptr<float>();
    float* dup = du.data_ptr<float>();
    at::parallel_for(0, g.numel(), kGrain, [&](int64_t a, int64_t z) {
#if RLEIF_HAVE_AVX2_KERNELS
      if (simd::cpu_has_avx2()) return swiglu_backward_avx2(gp, up, sp, yp, dgp, dup, a, z);
#endif
      swiglu_backward_loop(gp, up, sp, yp, dgp, dup, a, z);
    });
    return {dg, du};
  }
};

}  // namespace

void rms_norm_rows(const float* x, const float* w, int64_t n, int64_t h, double eps, float* y, float* rstd) {
  at::parallel_for(0, n, std::max<int64_t>(1, kGrain / h), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * h;
      const float inv = 1.0f / std::sqrt(dot(xr, xr, h) / static_cast<float>(h) + static_cast<float>(eps));
      if (rstd) rstd[r] = inv;
      float* yr = y + r * h;
      for (int64_t i = 0; i < h; ++i) yr[i] = w[i] * (xr[i] * inv);
    }
  });
}

bool applies(const torch::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && torch::GradMode::is_enabled() &&
         !c10::InferenceMode::is_enabled();
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  RLEIF_CHECK(x.size(-1) == w.numel() && w.scalar_type() == torch::kFloat32 && w.is_contiguous(),
              "fused::rms_norm: weight ", w.sizes(), " does not match the last dim of ", x.sizes());
  return RmsNormFn::apply(x, w, eps);
}

torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  RLEIF_CHECK(x.dim() == 4 && cos.dim() == 3 && x.size(0) == cos.size(0) && x.size(1) == cos.size(1) &&
                  x.size(3) == cos.size(2) && cos.sizes() == sin.sizes() && x.size(3) % 2 == 0,
              "fused::rope: x ", x.sizes(), " must be [B,T,H,D] with cos/sin [B,T,D]; got cos ", cos.sizes());
  return RopeFn::apply(x, cos, sin);
}

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
  RLEIF_CHECK(gate.sizes() == up.sizes(), "fused::swiglu: gate ", gate.sizes(), " and up ", up.sizes(), " differ");
  return SwigluFn::apply(gate, up);
}

}  // namespace rleif::model::fused
