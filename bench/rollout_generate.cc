// Timing program for bench/rollout_bench.py (CPU) and bench/rollout_gpu_bench.py (--device cuda): runs
// rollout::Engine on the prompts of a workload file and prints one JSON line (median seconds over
// repeats, generated tokens/s, batch occupancy).
// With --sgemm it instead measures the fp32 GEMM peak (GFLOP/s) at the given threads, for the
// roofline (2 x parameters FLOPs per generated token).
//
//   rollout_generate --model DIR --workload w.json --threads 1 --batch 16 --mode greedy [--schedule fixed]
//   rollout_generate --model DIR --workload w.json --device cuda --dtype bf16 --batch 64
//   rollout_generate --sgemm --threads 1
// w.json: {"prompts": [[ids]...], "new_tokens": [n per prompt]}
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "core/error.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "rollout/engine.h"

using namespace rleif;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int sgemm(int repeats) {
  c10::InferenceMode guard;
  const int64_t n = 1024;
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  for (int i = 0; i < 3; ++i) torch::mm_out(c, a, b);
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now();
    for (int i = 0; i < 10; ++i) torch::mm_out(c, a, b);
    t.push_back((now() - t0) / 10);
  }
  std::cout << json{{"sgemm_gflops", 2.0 * n * n * n / median(t) / 1e9}}.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rollout::Engine timing (driven by bench/rollout_bench.py)"};
  std::string model, workload, mode = "greedy", schedule = "continuous", device = "cpu", dtype = "fp32";
  int threads = 1, repeats = 3;
  int64_t batch = 16;
  bool do_sgemm = false, graphs = true;
  app.add_option("--model", model, "model directory");
  app.add_option("--workload", workload, "JSON with prompts and new-token counts");
  app.add_option("--threads", threads, "intra-op threads");
  app.add_option("--batch", batch, "engine rows");
  app.add_option("--mode", mode, "greedy | sampled (temperature 0.7, top-p 0.95)");
  app.add_option("--schedule", schedule, "continuous | fixed");
  app.add_option("--repeats", repeats, "timed repeats (median reported)");
  app.add_option("--device", device, "auto | cpu | cuda | cuda:N (the model and the KV cache live there)");
  app.add_option("--dtype", dtype, "float32 (fp32) | bfloat16 (bf16) | float16 (fp16): parameters converted on load");
  app.add_flag("--cuda-graphs,!--no-cuda-graphs", graphs, "CUDA: replay the decode step as a captured graph");
  app.add_flag("--sgemm", do_sgemm, "measure the fp32 GEMM peak instead");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  try {
    if (do_sgemm) return sgemm(repeats);
    const json w = json::parse(read_file(workload));
    model::LoadOptions lo;
    lo.device = model::parse_device(device, "--device");
    lo.dtype = model::parse_torch_dtype(dtype, "--dtype");
    auto lm = model::load_causal_lm(model, lo);
    std::vector<rollout::Request> reqs;
    size_t longest = 0;
    int64_t most_new = 0;
    for (size_t i = 0; i < w["prompts"].size(); ++i) {
      rollout::SamplingParams p;
      p.temperature = mode == "greedy" ? 0.0 : 0.7;
      p.top_p = mode == "greedy" ? 1.0 : 0.95;
      p.seed = static_cast<int64_t>(i);
      p.ignore_eos = true;
      p.max_new_tokens = w["new_tokens"][i].get<int64_t>();
      reqs.push_back({w["prompts"][i].get<std::vector<int32_t>>(), p});
      longest = std::max(longest, reqs.back().prompt.size());
      most_new = std::max(most_new, p.max_new_tokens);
    }
    rollout::EngineOptions o;
    o.max_batch = batch;
    o.max_len = static_cast<int64_t>(longest) + most_new;
    o.cuda_graphs = graphs;
    o.schedule = parse_enum<rollout::Schedule>(schedule, "--schedule");
    rollout::Engine engine(lm, nullptr, o);
    engine.generate(reqs);  // warm-up: allocator, thread pool, first-touch of the cache
    std::vector<double> t;
    for (int r = 0; r < repeats; ++r) {
      engine.reset_stats();
      const double t0 = now();
      engine.generate(reqs);
      t.push_back(now() - t0);
    }
    const auto& s = engine.stats();
    const double sec = median(t);
    std::cout << json{{"seconds", sec},
                      {"tokens", s.generated_tokens},
                      {"tokens_per_s", static_cast<double>(s.generated_tokens) / sec},
                      {"occupancy", s.occupancy(batch)},
                      {"decode_steps", s.steps}}
                     .dump()
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "rollout_generate: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
