// Decode-step GEMMs: model::cpu::linear_nt and PackedLinear (the small-M kernels) vs torch::linear (MKL) on the same
// operands and threads, interleaved round by round so machine drift hits both sides alike. Shapes:
// the projections of the demo policy (configs/models/math_tiny.json) and of the ~25M config at
// M rows. Prints one JSON line per shape with microseconds per call and the ratio.
//   build/bench/small_gemm [--threads 1] [--rows 16] [--rounds 200]
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <chrono>
#include <cstdio>

#include "model/cpu_gemm.h"

int main(int argc, char** argv) {
  CLI::App app{"small-M GEMM: rleif kernel vs torch::linear"};
  int threads = 1, rounds = 200;
  int64_t rows = 16;
  app.add_option("--threads", threads);
  app.add_option("--rows", rows);
  app.add_option("--rounds", rounds);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  c10::InferenceMode guard;
  struct Shape { const char* name; int64_t k, n; };
  const Shape shapes[] = {{"demo qkvo", 128, 128}, {"demo gate/up", 128, 352}, {"demo down", 352, 128},
                          {"demo lm_head", 128, 1024}, {"25M qkvo", 512, 512}, {"25M gate/up", 512, 1408},
                          {"25M down", 1408, 512}, {"25M lm_head", 512, 8000}};
  using clock = std::chrono::steady_clock;
  for (const auto& s : shapes) {
    auto x = torch::randn({rows, s.k}), w = torch::randn({s.n, s.k});
    auto out = torch::empty({rows, s.n});
    auto panels = torch::empty({rleif::model::cpu::PackedLinear::packed_floats(s.n, s.k) + 8});
    float* aligned = panels.data_ptr<float>();
    while (reinterpret_cast<uintptr_t>(aligned) % 32) ++aligned;
    rleif::model::cpu::PackedLinear packed(w, {}, aligned);
    const int reps = std::max<int64_t>(1, 2000000 / (rows * s.k * s.n) + 1);
    std::vector<double> ours, ref, pk;
    for (int r = 0; r < rounds; ++r) {
      auto t0 = clock::now();
      for (int i = 0; i < reps; ++i)
        rleif::model::cpu::linear_nt(x.data_ptr<float>(), rows, s.k, w.data_ptr<float>(), s.n, nullptr, out.data_ptr<float>());
      auto t1 = clock::now();
      for (int i = 0; i < reps; ++i) torch::linear(x, w);
      auto t2 = clock::now();
      for (int i = 0; i < reps; ++i) packed.forward(x.data_ptr<float>(), rows, out.data_ptr<float>());
      auto t3 = clock::now();
      pk.push_back(std::chrono::duration<double, std::micro>(t3 - t2).count() / reps);
      ours.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / reps);
      ref.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count() / reps);
    }
    std::nth_element(ours.begin(), ours.begin() + rounds / 2, ours.end());
    std::nth_element(ref.begin(), ref.begin() + rounds / 2, ref.end());
    std::nth_element(pk.begin(), pk.begin() + rounds / 2, pk.end());
    const double a = ours[rounds / 2], b = ref[rounds / 2], c = pk[rounds / 2], flops = 2.0 * rows * s.k * s.n;
    std::printf("{\"shape\": \"%s\", \"m\": %ld, \"k\": %ld, \"n\": %ld, \"linear_nt_us\": %.2f, \"packed_us\": %.2f, "
                "\"torch_us\": %.2f, \"linear_nt_gflops\": %.1f, \"packed_gflops\": %.1f, \"torch_gflops\": %.1f, "
                "\"packed_vs_torch\": %.2f}\n",
                s.name, static_cast<long>(rows), static_cast<long>(s.k), static_cast<long>(s.n), a, c, b, flops / a / 1e3,
                flops / c / 1e3, flops / b / 1e3, b / c);
  }
}
