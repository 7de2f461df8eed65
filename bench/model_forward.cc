// Forward-pass throughput of rleif's CausalLM: tokens/s for a batch of random ids.
// Prints one JSON line; bench/run_model_forward.py runs it beside transformers on the same weights.
//   model_forward --model DIR --batch B --seq T --threads N --iters K [--dtype float32]
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>

#include "core/jsonl.h"
#include "model/dtype.h"
#include "model/hf_io.h"

int main(int argc, char** argv) {
  CLI::App app{"rleif forward benchmark"};
  std::string dir, dtype = "float32";
  int64_t batch = 4, seq = 128, threads = 1, iters = 10, warmup = 2;
  app.add_option("--model", dir, "model directory")->required();
  app.add_option("--batch", batch);
  app.add_option("--seq", seq);
  app.add_option("--threads", threads);
  app.add_option("--iters", iters);
  app.add_option("--warmup", warmup);
  app.add_option("--dtype", dtype);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(static_cast<int>(threads));
  auto m = rleif::model::load_causal_lm(dir, {rleif::model::parse_torch_dtype(dtype, "--dtype"), torch::kCPU});
  torch::manual_seed(0);
  auto ids = torch::randint(0, m->cfg.vocab_size, {batch, seq}, torch::kInt64);  // [B,T]
  torch::InferenceMode guard;
  std::vector<double> times;
  for (int64_t i = 0; i < warmup + iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto logits = m->forward(ids);
    (void)logits.sum().item<float>();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i >= warmup) times.push_back(s);
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  std::cout << rleif::json{{"impl", "rleif"}, {"median_s", median}, {"tokens_per_s", batch * seq / median}}.dump()
            << std::endl;
  return 0;
}
