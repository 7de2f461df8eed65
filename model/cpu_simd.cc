#include "model/cpu_simd.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace rleif::model::simd {
namespace {
bool detect() {
  const char* env = std::getenv("RLEIF_CPU_KERNELS");
  if (env && std::strcmp(env, "generic") == 0) return false;
#if RLEIF_HAVE_AVX2_KERNELS
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

std::atomic<bool>& enabled() {
  static std::atomic<bool> on{detect()};
  return on;
}
}  // namespace

bool cpu_has_avx2() { return enabled().load(std::memory_order_relaxed); }

bool set_avx2_enabled(bool on) {
#if !RLEIF_HAVE_AVX2_KERNELS
  on = false;
#else
  if (on && !detect()) on = false;  // never switch on what the CPU lacks
#endif
  return enabled().exchange(on);
}

}  // namespace rleif::model::simd
