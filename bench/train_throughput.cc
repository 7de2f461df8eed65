// Training throughput (forward + backward + clip + AdamW) of rleif against PyTorch eager with
// transformers' LlamaForCausalLM, on the same weights, batches and thread count, in one run.
//
//   train_throughput --model-config configs/models/math_tiny.json --data DIR [--steps 12]
//                    [--warmup 3] [--batch 32] [--threads 2] [--mode sft|lm] [--python .venv/bin/python]
//
// DIR is a `rleif data synth` output (train.jsonl + tokenizer.json). mode sft: the loss on response
// tokens only (the SFT workload); mode lm: every token is a target (pretraining-style), which takes
// away rleif's skipping of prompt logits. Prints tokens/s for both, the ratio, and the model FLOPs
// utilisation against the sgemm peak measured on this machine in the same run.
//
// The two sides alternate step by step (rleif step i, then the reference's step i, driven over a
// pipe; bench/train_throughput.py), so a slow spell of this shared machine lands on both alike;
// the ratio is the median of the per-step ratios.
#include <torch/torch.h>

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/fs.h"
#include "core/memory.h"
#include "model/hf_io.h"
#include "tests/test_util.h"
#include "train/optim.h"
#include "train/sft.h"
#include "train/tensor_io.h"

using namespace rleif;
namespace fsys = std::filesystem;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// fp32 GEMM GFLOP/s of an n x n x n product (the best of the sizes tried), this thread count.
double sgemm_peak() {
  double best = 0;
  for (int64_t n : {512, 1024, 2048}) {
    auto a = torch::randn({n, n}), b = torch::randn({n, n});
    for (int i = 0; i < 2; ++i) torch::mm(a, b);
    std::vector<double> t;
    for (int i = 0; i < 5; ++i) {
      double t0 = now_s();
      torch::mm(a, b);
      t.push_back(now_s() - t0);
    }
    best = std::max(best, 2.0 * n * n * n / median(t) / 1e9);
  }
  return best;
}

// Model FLOPs per trained token (PaLM appendix B): 6 x non-embedding matmul parameters, plus the
// lm_head where logits are computed, plus attention scores and values (6 x 2 x L x T x H / 2 with
// causal masking counted in full, as is usual).
double flops_per_token(const model::ModelConfig& c, double mean_t, double logit_fraction) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double D = static_cast<double>(c.head_size());
  const double q = H * D * static_cast<double>(c.num_attention_heads), kv = H * D * static_cast<double>(c.num_key_value_heads);
  const double layer = 2 * q + 2 * kv + 3 * H * I;
  const double L = static_cast<double>(c.num_hidden_layers);
  const double attn = 6.0 * 2.0 * L * mean_t * D * static_cast<double>(c.num_attention_heads) / 2.0;
  return 6.0 * L * layer + 6.0 * H * static_cast<double>(c.vocab_size) * logit_fraction + attn;
}

// The reference process: started once, then asked for one step at a time.
class Reference {
 public:
  explicit Reference(const std::vector<std::string>& argv) {
    int in[2], out[2];
    RLEIF_CHECK(pipe(in) == 0 && pipe(out) == 0, "pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    RLEIF_CHECK(posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) == 0, "could not start ", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    to_ = fdopen(in[1], "w");
    from_ = fdopen(out[0], "r");
    RLEIF_CHECK(line() == "ready", "the reference did not start (see its errors above)");
  }
  ~Reference() {
    if (to_) fclose(to_);
    if (from_) fclose(from_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  json step(int64_t i) {
    std::fprintf(to_, "%lld\n", static_cast<long long>(i));
    std::fflush(to_);
    return json::parse(line());
  }

 private:
  std::string line() {
    std::string s;
    int c;
    while ((c = std::fgetc(from_)) != EOF && c != '\n') s.push_back(static_cast<char>(c));
    RLEIF_CHECK(!s.empty() || c != EOF, "the reference exited early (see its errors above)");
    return s;
  }
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rleif vs PyTorch eager training throughput"};
  std::string model_config, data, mode = "sft", python = test::python_bin();
  int64_t steps = 12, warmup = 3, batch = 32, threads = 2;
  app.add_option("--model-config", model_config, "config.json of the model")->required();
  app.add_option("--data", data, "rleif data synth directory")->required();
  app.add_option("--steps", steps, "timed steps");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--batch", batch, "examples per step");
  app.add_option("--threads", threads, "intra-op threads for both");
  app.add_option("--mode", mode, "sft (loss on responses) | lm (loss on every token)");
  app.add_option("--python", python, "python with torch + transformers");
  CLI11_PARSE(app, argc, argv);
  retain_freed_memory();  // as the rleif binary does (core/memory.h)
  try {
    at::set_num_threads(static_cast<int>(threads));
    torch::manual_seed(0);
    const std::string tmp = test::temp_dir("bench_train");
    json raw = json::parse(read_file(model_config));
    model::ModelConfig cfg = model::ModelConfig::from_json(raw, model_config);
    cfg.eos_token_ids = {2};
    cfg.bos_token_id = 1;
    cfg.pad_token_id = 0;
    model::CausalLM m(cfg);
    train::init_fresh_weights(m);
    model::save_causal_lm(m, tmp + "/model", data);

    // The first steps + warmup bucketed batches of the training data.
    auto tok = Tokenizer::from_file(data + "/tokenizer.json");
    train::SftDataOptions dopt;
    dopt.max_length = 512;
    train::SftDataset ds = train::load_sft_data(data + "/train.jsonl", tok, 2, dopt, (steps + warmup) * batch * 4);
    if (mode == "lm")
      for (auto& ex : ds.examples) {
        std::fill(ex.target.begin() + 1, ex.target.end(), 1);
        ex.n_targets = static_cast<int64_t>(ex.ids.size()) - 1;
      }
    train::SftBatcher batcher(ds, batch, train::Batching::bucket, 512, 8, 0, 1);
    RLEIF_CHECK(batcher.size() >= steps + warmup, "not enough data for ", steps + warmup, " batches");
    std::vector<train::SftBatch> batches;
    train::NamedTensors for_python;
    double tokens_total = 0, targets_total = 0, t_total = 0, padded_total = 0;
    for (int64_t i = 0; i < steps + warmup; ++i) {
      batches.push_back(batcher.batch(i));
      const auto& b = batches.back();
      // HF labels are unshifted: labels[t+1] = targets[t].
      torch::Tensor labels = torch::full_like(b.ids, -100);
      labels.narrow(1, 1, b.ids.size(1) - 1).copy_(b.targets.narrow(1, 0, b.ids.size(1) - 1));
      for_python.emplace_back("ids/" + std::to_string(i), b.ids);
      for_python.emplace_back("labels/" + std::to_string(i), labels);
      if (i >= warmup) {
        tokens_total += static_cast<double>(b.n_tokens);
        targets_total += static_cast<double>(b.n_targets);
        t_total += static_cast<double>(b.ids.size(1));
        padded_total += static_cast<double>(b.ids.numel());
      }
    }
    train::save_tensors(tmp + "/batches.safetensors", for_python);

    // rleif: the SFT task's step.
    train::AdamWOptions ao;
    ao.lr = 1e-3;
    ao.weight_decay = 0.1;
    train::AdamW opt(train::decay_groups(*m, ao.weight_decay), ao);
    std::vector<torch::Tensor> params;
    for (auto& g : opt.groups()) params.insert(params.end(), g.params.begin(), g.params.end());
    m->train();
    Reference ref({python, test::source_dir() + "/bench/train_throughput.py", "--model", tmp + "/model", "--batches",
                   tmp + "/batches.safetensors", "--threads", std::to_string(threads)});
    std::vector<double> rl_s, rl_fwd, rl_bwd, rl_opt, py_s, py_fwd, py_bwd, py_opt, ratios;
    double first_loss = 0, py_first_loss = 0, rl_faults = 0, py_faults = 0;
    for (int64_t i = 0; i < steps + warmup; ++i) {
      const auto& b = batches[static_cast<size_t>(i)];
      struct rusage ru0, ru1;
      getrusage(RUSAGE_SELF, &ru0);
      double t0 = now_s();
      torch::Tensor loss = train::SftTask::batch_loss(m, b, torch::kCPU) / static_cast<double>(b.n_targets);
      double t1 = now_s();
      loss.backward();
      double t2 = now_s();
      train::clip_grad_norm(params, 1.0);
      opt.step(ao.lr);
      opt.zero_grad();
      double t3 = now_s();
      getrusage(RUSAGE_SELF, &ru1);
      json py = ref.step(i);
      if (i == 0) first_loss = loss.item<double>(), py_first_loss = py["loss"].get<double>();
      if (i >= warmup) {
        rl_s.push_back(t3 - t0);
        rl_fwd.push_back(t1 - t0);
        rl_bwd.push_back(t2 - t1);
        rl_opt.push_back(t3 - t2);
        py_s.push_back(py["step_s"].get<double>());
        py_fwd.push_back(py["fwd_s"].get<double>());
        py_bwd.push_back(py["bwd_s"].get<double>());
        py_opt.push_back(py["opt_s"].get<double>());
        ratios.push_back(py_s.back() / rl_s.back());
        rl_faults += static_cast<double>(ru1.ru_minflt - ru0.ru_minflt);
        py_faults += py.value("minflt", 0.0);
      }
    }

    const double peak = sgemm_peak();
    const double mean_tokens = tokens_total / static_cast<double>(steps);
    const double rl_tps = mean_tokens / median(rl_s), py_tps = mean_tokens / median(py_s);
    const double mean_t = t_total / static_cast<double>(steps);
    // rleif computes logits only at targets; the reference computes them everywhere.
    const double rl_flops = flops_per_token(cfg, mean_t, targets_total / tokens_total) * rl_tps;
    const double py_flops = flops_per_token(cfg, mean_t, 1.0) * py_tps;
    int64_t n_params = 0;
    for (auto& p : m->parameters()) n_params += p.numel();
    std::printf("model %s: %.2fM parameters, %lld threads, mode %s, batch %lld, mean %.0f tokens/step (%.0f%% targets)\n",
                model_config.c_str(), static_cast<double>(n_params) / 1e6, static_cast<long long>(threads), mode.c_str(),
                static_cast<long long>(batch), mean_tokens, 100.0 * targets_total / tokens_total);
    std::printf("padding: %.1f%% of the [B,T] batch positions\n", 100.0 * (1.0 - tokens_total / padded_total));
    std::printf("first-step loss: rleif %.6f, transformers %.6f (same weights and batch)\n", first_loss, py_first_loss);
    std::printf("sgemm peak (fp32, %lld threads): %.1f GFLOP/s\n", static_cast<long long>(threads), peak);
    std::printf("rleif        : %9.0f tokens/s  median step %.3f s  %.1f GFLOP/s  MFU %.1f%%\n", rl_tps, median(rl_s),
                rl_flops / 1e9, 100.0 * rl_flops / 1e9 / peak);
    std::printf("pytorch eager: %9.0f tokens/s  median step %.3f s  %.1f GFLOP/s  MFU %.1f%%\n", py_tps, median(py_s),
                py_flops / 1e9, 100.0 * py_flops / 1e9 / peak);
    auto split = [](const char* who, double f, double b, double o) {
      std::printf("%s: forward+loss %.3f s  backward %.3f s  clip+AdamW %.4f s (medians)\n", who, f, b, o);
    };
    split("rleif        ", median(rl_fwd), median(rl_bwd), median(rl_opt));
    split("pytorch eager", median(py_fwd), median(py_bwd), median(py_opt));
    std::printf("page faults per step (mean): rleif %.0f, pytorch eager %.0f\n", rl_faults / static_cast<double>(steps),
                py_faults / static_cast<double>(steps));
    auto sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
    std::printf("ratio rleif / pytorch: %.2fx (median of %zu per-step ratios, steps interleaved; range %.2f-%.2f)\n",
                median(ratios), ratios.size(), sorted.front(), sorted.back());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
