// core/dist over NCCL: two forked ranks, one GPU each, sum gradients and share a string. Needs two
// CUDA devices; skips, saying how many it found, elsewhere (the Gloo cases: core_dist_test.cc).
#include <gtest/gtest.h>

#include "core/dist/dist.h"
#include "tests/dist_util.h"

namespace rleif::dist {
namespace {
using test::free_port;
using test::loopback;
using test::run_forked;

TEST(CoreDist, NcclSumsGradientsOnTwoGpus) {
  // Counted in a child: CUDA initialised in this process would be unusable in the forked ranks.
  int gpus = 0;
  for (int n = 1; n <= 2; ++n)
    if (run_forked(1, 60, [n](int) { return static_cast<int>(torch::cuda::device_count()) >= n; }) == std::vector<int>{0}) gpus = n;
  if (gpus < 2) GTEST_SKIP() << "NCCL case needs 2 CUDA devices; this machine has " << gpus;
  const int port = free_port();
  auto codes = run_forked(2, 180, [port](int rank) {
    DistOptions o;
    o.timeout_s = 60;
    o.bucket_mb = 1.0 / 1024;
    Context c(loopback(rank, 2, port), o, torch::Device(torch::kCUDA));
    CHILD_CHECK(c.backend_name() == "nccl" && c.device() == torch::Device(torch::kCUDA, rank));
    auto a = torch::zeros({1000}, torch::TensorOptions().device(c.device())).set_requires_grad(true);
    a.mutable_grad() = torch::ones({1000}, a.options()) * (rank + 1);
    c.all_reduce_gradients({a});
    CHILD_CHECK(torch::equal(a.grad().cpu(), torch::full({1000}, 3.0f)));
    CHILD_CHECK(c.share(rank == 0 ? "nccl" : "", "share") == "nccl");
    c.barrier("the end");
    return true;
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

}  // namespace
}  // namespace rleif::dist
