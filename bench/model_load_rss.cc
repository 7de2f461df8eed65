// Peak resident memory of loading a Hugging Face model directory: ru_maxrss of this process (run
// it fresh for each measurement) before and after model::load_causal_lm, and the load time.
// Prints one JSON line. The model: bench/make_random_model.py (docs/PERFORMANCE.md, "Model loading").
//   model_load_rss --model DIR [--dtype bfloat16] [--threads 2]
#include <sys/resource.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>

#include "core/jsonl.h"
#include "model/hf_io.h"

namespace {
double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rleif model-load peak-memory benchmark"};
  std::string dir, dtype = "bfloat16";
  int64_t threads = 2;
  app.add_option("--model", dir, "model directory")->required();
  app.add_option("--dtype", dtype, "float32 | bfloat16 | float16");
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(static_cast<int>(threads));
  (void)torch::ones({1}).sum().item<float>();  // LibTorch's own start-up memory goes into `before`
  const double before = max_rss_mib();
  auto t0 = std::chrono::steady_clock::now();
  auto m = rleif::model::load_causal_lm(dir, {rleif::model::parse_torch_dtype(dtype, "--dtype"), torch::kCPU});
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t params = 0, bytes = 0;
  for (auto& p : m->parameters()) {
    params += p.numel();
    bytes += p.nbytes();
  }
  std::cout << rleif::json{{"dtype", dtype},
                           {"params", params},
                           {"param_mib", static_cast<double>(bytes) / (1 << 20)},
                           {"rss_before_load_mib", before},
                           {"peak_rss_mib", max_rss_mib()},
                           {"load_s", load_s}}
                   .dump()
            << std::endl;
  return 0;
}
