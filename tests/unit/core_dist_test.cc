// core/dist: torchrun's environment parsed and checked; one process is a no-op world; two forked
// processes over Gloo on loopback sum gradients in several buckets (a gradient missing on one rank
// counts as zero, one missing on every rank stays missing), gather and share strings, agree on a
// flag; a dead peer is a clear error within the timeout. The NCCL case: core_dist_nccl_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "core/dist/dist.h"
#include "core/error.h"
#include "tests/dist_util.h"

namespace rleif::dist {
namespace {

using test::free_port;
using test::loopback;
using test::run_forked;

TEST(CoreDist, ShardSplitsContiguouslyAndCoversEverything) {
  for (int world : {1, 2, 3, 5})
    for (int64_t n : {0, 1, 2, 7, 16}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        auto [lo, hi] = shard(n, r, world);
        EXPECT_EQ(lo, next);
        EXPECT_LE(hi - lo, (n + world - 1) / world);
        EXPECT_GE(hi - lo, n / world);
        next = hi;
      }
      EXPECT_EQ(next, n);
    }
  EXPECT_EQ(shard(1, 0, 2), std::make_pair(int64_t{0}, int64_t{0}));  // rank 0 idles; rank 1 takes it
}

TEST(CoreDist, EnvironmentIsParsedAndChecked) {
  for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
                        "TORCHELASTIC_RESTART_COUNT"})
    ::unsetenv(k);
  Launch none = Launch::from_env();
  EXPECT_EQ(none.world, 1);
  EXPECT_EQ(none.rank, 0);
  ::setenv("RANK", "1", 1);
  EXPECT_THROW(Launch::from_env(), Error);  // WORLD_SIZE missing
  ::setenv("WORLD_SIZE", "4", 1);
  try {
    Launch::from_env();
    ADD_FAILURE() << "no MASTER_ADDR accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_ADDR is unset"), std::string::npos) << e.what();
  }
  ::setenv("MASTER_ADDR", "10.0.0.1", 1);
  ::setenv("MASTER_PORT", "70000", 1);
  EXPECT_THROW(Launch::from_env(), Error);
  ::setenv("MASTER_PORT", "29400", 1);
  ::setenv("LOCAL_RANK", "0", 1);
  ::setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  ::setenv("TORCHELASTIC_RESTART_COUNT", "2", 1);
  Launch l = Launch::from_env();
  EXPECT_EQ(l.rank, 1);
  EXPECT_EQ(l.world, 4);
  EXPECT_EQ(l.local_rank, 0);
  EXPECT_EQ(l.master_addr, "10.0.0.1");
  EXPECT_EQ(l.master_port, 29400);
  EXPECT_TRUE(l.agent_store);
  EXPECT_EQ(l.store_prefix, "rleif/2");
  ::setenv("RANK", "4", 1);
  EXPECT_THROW(Launch::from_env(), Error);
  ::setenv("RANK", "x", 1);
  EXPECT_THROW(Launch::from_env(), Error);
  for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
                        "TORCHELASTIC_RESTART_COUNT"})
    ::unsetenv(k);
}

TEST(CoreDist, OneProcessIsANoOpWorld) {
  Context c(Launch{}, DistOptions{}, torch::Device(torch::kCPU));
  EXPECT_FALSE(c.distributed());
  EXPECT_TRUE(c.is_main());
  auto p = torch::ones({3}).set_requires_grad(true);
  p.mutable_grad() = torch::full({3}, 2.0);
  c.all_reduce_gradients({p});
  EXPECT_TRUE(torch::equal(p.grad(), torch::full({3}, 2.0)));
  EXPECT_EQ(c.share("x", "t"), "x");
  EXPECT_TRUE(c.any(true, "t"));
}

TEST(CoreDist, TwoProcessesSumGradientsInBucketsAndAgree) {
  const int port = free_port();
  auto codes = run_forked(2, 120, [port](int rank) {
    DistOptions o;
    o.timeout_s = 30;
    o.bucket_mb = 100.0 / (1 << 20);  // 100 bytes: several buckets
    Context c(loopback(rank, 2, port), o, torch::Device(torch::kCPU));
    CHILD_CHECK(c.distributed() && c.size() == 2 && c.rank() == rank && c.backend_name() == "gloo");
    // a: [40] on both ranks; b: [3,5] on rank 0 only; n: no gradient anywhere; d: float64 [7].
    auto a = torch::zeros({40}).set_requires_grad(true);
    auto b = torch::zeros({3, 5}).set_requires_grad(true);
    auto n = torch::zeros({2}).set_requires_grad(true);
    auto d = torch::zeros({7}, torch::kFloat64).set_requires_grad(true);
    a.mutable_grad() = torch::arange(40, torch::kFloat32) * (rank + 1);
    if (rank == 0) b.mutable_grad() = torch::full({3, 5}, 0.5);
    d.mutable_grad() = torch::full({7}, 1.0 / 3, torch::kFloat64) * (rank + 1);
    c.all_reduce_gradients({a, b, n, d});
    CHILD_CHECK(torch::equal(a.grad(), torch::arange(40, torch::kFloat32) * 3));
    CHILD_CHECK(b.grad().defined() && torch::equal(b.grad(), torch::full({3, 5}, 0.5)));
    CHILD_CHECK(!n.grad().defined());
    CHILD_CHECK(d.grad().scalar_type() == torch::kFloat64 && torch::equal(d.grad(), torch::full({7}, 1.0 / 3, torch::kFloat64) * 3));
    auto all = c.all_gather(rank == 0 ? "zero" : std::string("one\0two", 7), "gather");
    CHILD_CHECK(all.size() == 2 && all[0] == "zero" && all[1] == std::string("one\0two", 7));
    CHILD_CHECK(c.share(rank == 0 ? "from rank 0" : "ignored", "share") == "from rank 0");
    CHILD_CHECK(c.any(rank == 1, "any") && !c.any(false, "none"));
    json s = c.sum_numbers(json{{"x", rank + 1.5}, {"only1", rank == 1 ? 2 : 0}, {"text", "dropped"}}, "sum");
    CHILD_CHECK(s["x"].get<double>() == 4.0 && s["only1"].get<double>() == 2.0 && !s.contains("text"));
    std::vector<torch::Tensor> w{torch::full({4}, static_cast<float>(rank + 7))};
    c.broadcast(w, 0, "broadcast");
    CHILD_CHECK(torch::equal(w[0], torch::full({4}, 7.0f)));
    c.barrier("the end");
    return true;
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0})) << "see the children's stderr above";
}

TEST(CoreDist, StartAlikeCopiesRankZerosWeightsAndNamesARankThatDiffers) {
  const int port = free_port();
  auto codes = run_forked(2, 120, [port](int rank) {
    DistOptions o;
    o.timeout_s = 30;
    Context c(loopback(rank, 2, port), o, torch::Device(torch::kCPU));
    std::vector<torch::Tensor> w{torch::full({3}, static_cast<float>(rank + 1)), torch::full({2, 2}, rank * 10.0)};
    c.start_alike("4 prompts", w, "prompts and models");
    CHILD_CHECK(torch::equal(w[0], torch::full({3}, 1.0f)) && torch::equal(w[1], torch::zeros({2, 2})));
    try {
      c.start_alike(rank == 0 ? "4 prompts" : "5 prompts", w, "prompts and models");
    } catch (const Error& e) {
      const std::string m = e.what();
      CHILD_CHECK(m.find("rank 1 has 5 prompts but rank 0 has 4 prompts; all ranks must read the same prompts and "
                         "models with the same config") != std::string::npos);
      return true;
    }
    std::cerr << "rank " << rank << ": different inputs were accepted\n";
    return false;
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0})) << "see the children's stderr above";
}

TEST(CoreDist, ADeadPeerIsAClearErrorWithinTheTimeout) {
  const int port = free_port();
  auto codes = run_forked(2, 90, [port](int rank) {
    DistOptions o;
    o.timeout_s = 20;
    Context c(loopback(rank, 2, port), o, torch::Device(torch::kCPU));
    c.barrier("start");
    if (rank == 1) ::_exit(3);  // dies without a word
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto t = torch::ones({1000});
      c.all_reduce_sum(t, "the test all-reduce");
    } catch (const Error& e) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const std::string m = e.what();
      CHILD_CHECK(s < 25);
      CHILD_CHECK(m.find("rank 0/2: the test all-reduce failed") != std::string::npos);
      CHILD_CHECK(m.find("rerun the same command") != std::string::npos);
      return true;
    }
    std::cerr << "the all-reduce with a dead peer returned\n";
    return false;
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 3}));
}

}  // namespace
}  // namespace rleif::dist
