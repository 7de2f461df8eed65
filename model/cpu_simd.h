// AVX2 + FMA helpers for the fp32 CPU kernels (model/cpu_gemm.cc, model/fused_train.cc,
// rollout/cpu_decode.cc), chosen at run time. The project is built for baseline x86-64, so every
// function that uses these carries RLEIF_AVX2 (GCC's per-function target attribute) and is only
// called after cpu_has_avx2(): no other code is compiled for AVX2, and the binary still runs on a
// CPU without it (the generic loops take over). RLEIF_CPU_KERNELS=generic forces the generic loops
// (tests compare the two; also a fallback should a kernel ever be suspect on some CPU).
#pragma once
#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RLEIF_HAVE_AVX2_KERNELS 1
#include <immintrin.h>
#define RLEIF_AVX2 __attribute__((target("avx2,fma")))
#else
#define RLEIF_HAVE_AVX2_KERNELS 0
#define RLEIF_AVX2
#endif

namespace rleif::model::simd {

// True when the CPU has AVX2 and FMA and RLEIF_CPU_KERNELS is not "generic" (read once).
bool cpu_has_avx2();
// Overrides the choice for this process (tests run both paths); returns the previous value.
bool set_avx2_enabled(bool on);

#if RLEIF_HAVE_AVX2_KERNELS
// e^x for 8 floats: Cephes' expf (range reduction by ln 2 in two parts, degree-5 polynomial),
// relative error under 2e-7 for x in [-87, 88]; inputs below -87.3 give 0 (softmax's masked
// scores), above 88.7 give +inf.
RLEIF_AVX2 inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.7228391f), lo = _mm256_set1_ps(-87.3365447f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  // 2^fx built in the exponent field; fx in [-126, 128] after the clamp, 128 only at +inf's edge.
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(underflow, y);
}

// The four horizontal sums of a0..a3 -> [sum a0, sum a1, sum a2, sum a3].
RLEIF_AVX2 inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

RLEIF_AVX2 inline float hsum(__m256 a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

RLEIF_AVX2 inline float hmax(__m256 a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane mask for the first r (0..8) of 8 floats, for _mm256_maskload_ps / _mm256_maskstore_ps.
RLEIF_AVX2 inline __m256i tail_mask(int64_t r) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(r)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

}  // namespace rleif::model::simd
