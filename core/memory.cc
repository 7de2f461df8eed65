#include "core/memory.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rleif {

void retain_freed_memory() {
  const char* env = std::getenv("RLEIF_MALLOC");
  if (env && std::strcmp(env, "system") == 0) return;
#if defined(__GLIBC__)
  // No mmap'd blocks: large ones come from the heap too (glibc still falls back to mmap when the heap
  // cannot grow). A free top of the heap is given back only above 1 GiB.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace rleif
