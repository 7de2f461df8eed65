// core/memory.h: with retain_freed_memory, a large block freed and allocated again is served from
// memory the process kept (no page faults), where glibc's defaults hand it back and fault it in anew.
// Each case runs in a forked child, so the allocator settings do not leak into other tests.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "core/memory.h"

// Under ASan or TSan, malloc is the sanitizer's allocator and glibc's settings do not reach it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RLEIF_SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RLEIF_SANITIZER_MALLOC 1
#endif
#endif

namespace rleif {
namespace {

constexpr size_t kBlock = size_t{64} << 20;  // 64 MiB: far above glibc's default mmap threshold

// Allocates, writes and frees kBlock; the asm keeps the compiler from eliding the pair.
void round_trip() {
  void* p = std::malloc(kBlock);
  std::memset(p, 1, kBlock);
  asm volatile("" : : "r"(p) : "memory");
  std::free(p);
}

// Minor page faults of the second of two round trips.
long refaults() {
  round_trip();
  rusage a{}, b{};
  getrusage(RUSAGE_SELF, &a);
  round_trip();
  getrusage(RUSAGE_SELF, &b);
  return b.ru_minflt - a.ru_minflt;
}

// Runs `child` in a fork and returns its exit status (0 = the expectation held).
int in_child(bool retain, long min_faults, long max_faults) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (retain) retain_freed_memory();
    const long n = refaults();
    _exit(n >= min_faults && n <= max_faults ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

TEST(Memory, FreedBlocksAreReusedWithoutPageFaults) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "allocator settings apply to glibc only";
#endif
#if defined(RLEIF_SANITIZER_MALLOC)
  GTEST_SKIP() << "built with a sanitizer: malloc is the sanitizer's allocator, not glibc's";
#endif
  const long pages = static_cast<long>(kBlock / 4096);
  // glibc's defaults: the block is mmap'd and unmapped on free; every page faults again.
  EXPECT_EQ(in_child(false, pages / 2, pages * 2), 0) << "expected ~" << pages << " faults with glibc's defaults";
  // Retained: the second round trip reuses the heap memory of the first.
  EXPECT_EQ(in_child(true, 0, pages / 100), 0) << "expected almost no faults once freed memory is retained";
}

TEST(Memory, SystemSettingKeepsGlibcDefaults) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "allocator settings apply to glibc only";
#endif
  const long pages = static_cast<long>(kBlock / 4096);
  ::setenv("RLEIF_MALLOC", "system", 1);
  EXPECT_EQ(in_child(true, pages / 2, pages * 2), 0) << "RLEIF_MALLOC=system must leave glibc's defaults";
  ::unsetenv("RLEIF_MALLOC");
}

}  // namespace
}  // namespace rleif
