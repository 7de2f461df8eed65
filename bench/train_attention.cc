// Training attention: model::fused::causal_attention (model/fused_attention.h)
// vs ATen's scaled_dot_product_attention (flash attention for CPU), forward + backward on the same
// operands and threads, interleaved round by round. Default shapes: the demo policy's
// (B 16, 4 heads, D 32) and the ~25M config's (B 32, 8 heads, D 64) at two sequence lengths.
// Prints one JSON line per shape with milliseconds per call and the ratio.
//   build/bench/train_attention [--threads 2] [--rounds 20]
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "model/fused_attention.h"

int main(int argc, char** argv) {
  CLI::App app{"training attention: rleif vs SDPA"};
  int threads = 2, rounds = 20;
  app.add_option("--threads", threads);
  app.add_option("--rounds", rounds);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  struct Shape { const char* name; int64_t B, T, H, D; };
  const Shape shapes[] = {{"demo T72", 16, 72, 4, 32}, {"demo T115", 16, 115, 4, 32},
                          {"25M T72", 32, 72, 8, 64}, {"25M T115", 32, 115, 8, 64}, {"T512", 2, 512, 8, 64}};
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  for (const auto& s : shapes) {
    auto q = torch::randn({s.B, s.T, s.H, s.D}, torch::requires_grad());
    auto k = torch::randn({s.B, s.T, s.H, s.D}, torch::requires_grad());
    auto v = torch::randn({s.B, s.T, s.H, s.D}, torch::requires_grad());
    auto up = torch::randn({s.B, s.T, s.H, s.D});
    std::vector<double> of, ob, rf, rb;
    for (int r = 0; r < rounds + 2; ++r) {
      auto t0 = clock::now();
      auto o = rleif::model::fused::causal_attention(q, k, v);
      auto t1 = clock::now();
      o.backward(up);
      auto t2 = clock::now();
      // SDPA in the layout the model hands it: [B,H,T,D] views of the same projections.
      auto p = at::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), {}, 0.0, true);
      auto t3 = clock::now();
      p.backward(up.transpose(1, 2));
      auto t4 = clock::now();
      if (r < 2) continue;
      of.push_back(ms(t0, t1)), ob.push_back(ms(t1, t2)), rf.push_back(ms(t2, t3)), rb.push_back(ms(t3, t4));
    }
    auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
    std::printf("{\"shape\": \"%s\", \"rleif_fwd_ms\": %.3f, \"rleif_bwd_ms\": %.3f, \"sdpa_fwd_ms\": %.3f, "
                "\"sdpa_bwd_ms\": %.3f, \"ratio_fwd_bwd\": %.2f}\n",
                s.name, med(of), med(ob), med(rf), med(rb), (med(rf) + med(rb)) / (med(of) + med(ob)));
  }
  return 0;
}
