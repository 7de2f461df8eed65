#include "rollout/cpu_decode.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

#include "model/fused_train.h"

namespace rleif::rollout::cpu {

using model::fused::dot;

void rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps, torch::Tensor& out) {
  model::fused::rms_norm_rows(x.data_ptr<float>(), w.data_ptr<float>(), x.size(0), x.size(1), eps,
                              out.data_ptr<float>(), nullptr);
}

void rope(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& cos, const torch::Tensor& sin_signed) {
  const int64_t b = q.size(0), d = q.size(2), half = d / 2;
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin_signed.data_ptr<float>();
  auto one = [&](torch::Tensor& x) {
    const int64_t heads = x.size(1);
    float* xp = x.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r) {
      const float* c = cp + r * d;
      const float* s = sp + r * d;
      for (int64_t hh = 0; hh < heads; ++hh) {
        float* v = xp + (r * heads + hh) * d;
        for (int64_t i = 0; i < half; ++i) {
          const float lo = v[i], hi = v[i + half];
          v[i] = lo * c[i] + hi * s[i];
          v[i + half] = hi * c[i + half] + lo * s[i + half];
        }
      }
    }
  };
  one(q);
  one(k);
}

void write_cache(const torch::Tensor& k, const torch::Tensor& v, const std::vector<int64_t>& pos, torch::Tensor& cache_k,
                 torch::Tensor& cache_v) {
  const int64_t b = k.size(0), hkv = k.size(1), d = k.size(2), tmax = cache_k.size(2);
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  float* ck = cache_k.data_ptr<float>();
  float* cv = cache_v.data_ptr<float>();
  for (int64_t r = 0; r < b; ++r)
    for (int64_t h = 0; h < hkv; ++h) {
      const int64_t dst = ((r * hkv + h) * tmax + pos[r]) * d, src = (r * hkv + h) * d;
      std::memcpy(ck + dst, kp + src, sizeof(float) * d);
      std::memcpy(cv + dst, vp + src, sizeof(float) * d);
    }
}

void attend(const torch::Tensor& q, const torch::Tensor& cache_k, const torch::Tensor& cache_v,
            const std::vector<int64_t>& pos, int64_t window, torch::Tensor& out) {
  const int64_t b = q.size(0), hq = q.size(1), d = q.size(2);
  const int64_t hkv = cache_k.size(1), tmax = cache_k.size(2), g = hq / hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const float* qp = q.data_ptr<float>();
  const float* ck = cache_k.data_ptr<float>();
  const float* cv = cache_v.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, b * hq, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> p;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = i / hq, h = i % hq, kh = h / g;
      const int64_t hi = pos[r], lo = window > 0 ? std::max<int64_t>(0, hi - window + 1) : 0;
      const float* qv = qp + i * d;
      const float* kbase = ck + (r * hkv + kh) * tmax * d;
      const float* vbase = cv + (r * hkv + kh) * tmax * d;
      p.resize(static_cast<size_t>(hi - lo + 1));
      float mx = -INFINITY;
      for (int64_t j = lo; j <= hi; ++j) {
        p[j - lo] = dot(qv, kbase + j * d, d) * scale;
        mx = std::max(mx, p[j - lo]);
      }
      float sum = 0;
      for (auto& x : p) sum += (x = std::exp(x - mx));
      const float inv = 1.0f / sum;
      float* o = op + i * d;
      std::fill(o, o + d, 0.0f);
      for (int64_t j = lo; j <= hi; ++j) {
        const float w = p[j - lo] * inv;
        const float* vv = vbase + j * d;
        for (int64_t e = 0; e < d; ++e) o[e] += w * vv[e];
      }
    }
  });
}

void swiglu(torch::Tensor& gate, const torch::Tensor& up) {
  const int64_t n = gate.numel();
  float* g = gate.data_ptr<float>();
  const float* u = up.data_ptr<float>();
  at::parallel_for(0, n, 4096, [&](int64_t a, int64_t z) {
    for (int64_t i = a; i < z; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  });
}

}  // namespace rleif::rollout::cpu
