// Reward-model throughput of rleif against the Python reference, on the same weights, batches and
// thread count, in one run:
//   train: rm::RmTask's loss (end_logits, padding-free on the CPU) + backward + clip + train::AdamW
//          vs TRL's PRMTrainer (task prm, LlamaForTokenClassification, 2 labels) or RewardTrainer
//          (task pairwise, LlamaForSequenceClassification) running their own training loop;
//   score: rm::end_logits (+ step_probability for a PRM) under no-grad vs a transformers forward
//          on the right-padded batch with an attention mask.
//   --head likelihood (task prm): the likelihood PRM (rm/verifier.h) vs the same computation written
//          plainly in PyTorch on transformers' LlamaForCausalLM (log-softmax, gather, masked running
//          minimum, sigmoid; training: BCE, backward, clip, torch.optim.AdamW), as there is no TRL trainer
//          for it.
//
//   rm_throughput --model-config configs/models/math_tiny.json --data DIR --task prm|pairwise
//                 --what train|score [--head classifier|likelihood] [--steps 12] [--warmup 3] [--batch 16]
//                 [--threads 2]
//
// DIR is a `rleif data synth` output (its tokenizer.json). The examples are the math domain's
// (tests/rm_util.h math_prm_records: prompt + 1-4 steps, every other solution corrupted; pairwise:
// the correct solution over a corrupted one of the same problem), encoded once by rleif (alpaca
// template) and handed to the reference pre-tokenised, so both sides see the same token ids in the
// same batches. Tokens/s counts real (non-padding) tokens on both sides.
//
// The two sides alternate step by step (rleif step i, then the reference's step i, driven over a
// pipe; bench/rm_reference.py), so a slow spell of this shared machine lands on both alike; the
// ratio is the median of the per-step ratios.
#include <torch/torch.h>

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/fs.h"
#include "core/memory.h"
#include "evol/math_domain.h"
#include "rm/losses.h"
#include "rm/task.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"
#include "train/optim.h"

using namespace rleif;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The reference process: started once, then asked for one step at a time (as bench/train_throughput).
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
    wait_ready();
  }
  ~Reference() {
    if (to_) fclose(to_);
    if (from_) fclose(from_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  // Runs step i there and returns its answer; with `more`, also waits until the reference is idle
  // again (it prints "ready" once its next batch is collated), so nothing of it overlaps our step.
  json step(int64_t i, bool more) {
    std::fprintf(to_, "%lld\n", static_cast<long long>(i));
    std::fflush(to_);
    std::string l;
    while ((l = line()).empty() || l[0] != '{') {}
    if (more) wait_ready();
    return json::parse(l);
  }

 private:
  void wait_ready() {
    while (line() != "ready") {}  // anything a library prints is skipped
  }
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

// n preference pairs of the math domain: the correct solution over one wrong from a random step on.
std::vector<json> math_pairs(int n, uint64_t seed) {
  std::vector<json> out;
  auto probs = evol::generate_problems(n, seed, 1, 4);
  for (int i = 0; i < n; ++i) {
    const auto& p = probs[static_cast<size_t>(i)];
    out.push_back(json{{"id", "pair" + std::to_string(i)},
                       {"prompt", p.question},
                       {"chosen", p.solution},
                       {"rejected", evol::corrupt_solution(p, i % p.n_steps, seed + static_cast<uint64_t>(i))}});
  }
  return out;
}

struct Side {
  std::vector<double> step, fwd, bwd, opt;
  double faults = 0;
};

void print_side(const char* who, const Side& s, double tokens_per_step) {
  std::printf("%s: %9.0f tokens/s  median step %.4f s  (forward+loss %.4f  backward %.4f  clip+optimizer %.4f)\n", who,
              tokens_per_step / median(s.step), median(s.step), median(s.fwd), median(s.bwd), median(s.opt));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rleif vs TRL / transformers reward-model throughput"};
  std::string model_config, data, task_name = "prm", what = "train", head = "classifier", python = test::python_bin();
  int64_t steps = 12, warmup = 3, batch = 16, threads = 2;
  double lr = 1e-4;
  app.add_option("--model-config", model_config, "config.json of the backbone")->required();
  app.add_option("--data", data, "rleif data synth directory (its tokenizer.json)")->required();
  app.add_option("--task", task_name, "prm (token classification) | pairwise (sequence classification)");
  app.add_option("--what", what, "train | score");
  app.add_option("--head", head, "classifier | likelihood (task prm)");
  app.add_option("--steps", steps, "timed steps");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--batch", batch, "train: solutions (prm) or pairs (pairwise) per step; score: sequences per forward");
  app.add_option("--threads", threads, "intra-op threads for both");
  app.add_option("--lr", lr, "AdamW learning rate (constant) for both");
  app.add_option("--python", python, "python with torch + transformers + trl");
  CLI11_PARSE(app, argc, argv);
  retain_freed_memory();  // as the rleif binary does (core/memory.h)
  try {
    RLEIF_CHECK(task_name == "prm" || task_name == "pairwise", "--task ", task_name, ": expected prm or pairwise");
    RLEIF_CHECK(what == "train" || what == "score", "--what ", what, ": expected train or score");
    RLEIF_CHECK(head == "classifier" || (head == "likelihood" && task_name == "prm"), "--head ", head,
                ": expected classifier, or likelihood with --task prm");
    const bool prm = task_name == "prm", train = what == "train", lik = head == "likelihood";
    at::set_num_threads(static_cast<int>(threads));
    torch::manual_seed(0);
    const std::string tmp = test::temp_dir("bench_rm");
    const int64_t n_steps = steps + warmup;
    // Score mode batches sequences; a pair holds two.
    const int64_t units = train ? n_steps * batch : (prm ? n_steps * batch : (n_steps * batch + 1) / 2);
    const auto n_records = static_cast<int>(units + 8);
    const std::string records = tmp + "/records.jsonl";
    test::write_records(records, prm ? test::math_prm_records(n_records, 5) : math_pairs(n_records, 5));

    rm::RmConfig cfg;
    cfg.model.config = model_config;
    cfg.model.tokenizer = data + "/tokenizer.json";
    cfg.data.kind = prm ? rm::RmKind::prm : rm::RmKind::pairwise;
    cfg.data.train = records;
    cfg.data.limit = units;
    cfg.train.batch_size = batch;
    cfg.optim.lr = lr;
    cfg.optim.weight_decay = 0.1;
    if (lik) {  // fixed (scale, bias): the reference reads them from rleif_rm.json
      cfg.head.kind = rm::HeadKind::likelihood;
      cfg.head.calibrate = false;
      cfg.head.init_scale = 1.0;
      cfg.head.init_bias = 4.0;
    }
    rm::RmTask task(cfg);  // batches in file order: the task's order before any start_epoch
    task.init_model("", torch::kCPU);
    task.save_model(tmp + "/model");
    const auto& ds = task.train_data();
    RLEIF_CHECK(static_cast<int64_t>(ds.units.size()) == units, "expected ", units, " units, got ", ds.units.size());

    // The examples for the reference, in rleif's order, and the sequences of each step.
    json ex = json::array();
    std::vector<std::vector<const rm::Encoded*>> step_seqs(static_cast<size_t>(n_steps));
    std::vector<const rm::Encoded*> flat;
    for (const auto& u : ds.units)
      for (const auto& s : u.seqs) flat.push_back(&s);
    if (train) {
      for (const auto& u : ds.units) {
        if (lik) {
          ex.push_back(json{{"input_ids", u.seqs[0].ids}, {"ends", u.seqs[0].ends}, {"step_labels", u.labels},
                            {"response_start", u.seqs[0].response_start}});
        } else if (prm) {
          std::vector<int64_t> labels(u.seqs[0].ids.size(), -100);  // PRMTrainer.tokenize_row's layout
          for (size_t s = 0; s < u.seqs[0].ends.size(); ++s)
            if (u.labels[s] >= 0) labels[static_cast<size_t>(u.seqs[0].ends[s])] = u.labels[s] >= 0.5f ? 1 : 0;
          ex.push_back(json{{"input_ids", u.seqs[0].ids}, {"labels", labels}});
        } else {
          ex.push_back(json{{"chosen_ids", u.seqs[0].ids}, {"rejected_ids", u.seqs[1].ids}});
        }
      }
      for (int64_t i = 0; i < n_steps; ++i)
        for (int64_t j = i * batch; j < (i + 1) * batch; ++j)
          for (const auto& s : ds.units[static_cast<size_t>(j)].seqs) step_seqs[static_cast<size_t>(i)].push_back(&s);
    } else {
      for (int64_t j = 0; j < n_steps * batch; ++j) {
        const rm::Encoded* s = flat[static_cast<size_t>(j)];
        ex.push_back(json{{"input_ids", s->ids}, {"ends", s->ends}, {"response_start", s->response_start}});
        step_seqs[static_cast<size_t>(j / batch)].push_back(s);
      }
    }
    write_file_atomic(tmp + "/examples.json", ex.dump());
    std::vector<double> step_tokens;
    double padded = 0, real = 0;
    for (auto& seqs : step_seqs) {
      double t = 0, longest = 0;
      for (auto* s : seqs) t += static_cast<double>(s->ids.size()), longest = std::max(longest, static_cast<double>(s->ids.size()));
      step_tokens.push_back(t);
      real += t;
      padded += longest * static_cast<double>(seqs.size());
    }

    torch::nn::Module& model = task.module();
    train::AdamWOptions ao = cfg.optim;
    train::AdamW opt(train::decay_groups(task.module(), ao.weight_decay), ao);
    std::vector<torch::Tensor> params;
    for (auto& g : opt.groups()) params.insert(params.end(), g.params.begin(), g.params.end());
    model.train(train);
    Reference ref({python, test::source_dir() + "/bench/rm_reference.py", "--model", tmp + "/model", "--data",
                   tmp + "/examples.json", "--task", task_name, "--what", what, "--head", head, "--batch",
                   std::to_string(batch), "--steps", std::to_string(n_steps), "--threads",
                   std::to_string(threads), "--lr", std::to_string(lr), "--out", tmp + "/trl_out"});
    Side rl, py;
    std::vector<double> ratios;
    double tokens_timed = 0, rl_first = 0, py_first = 0;
    int64_t py_threads = 0;
    for (int64_t i = 0; i < n_steps; ++i) {
      struct rusage ru0, ru1;
      getrusage(RUSAGE_SELF, &ru0);
      double t0 = now_s(), t1 = 0, t2 = 0, loss_v = 0;
      if (train) {
        json metrics;
        torch::Tensor loss = task.loss(i, metrics) / task.info(i).weight;
        t1 = now_s();
        loss.backward();
        t2 = now_s();
        train::clip_grad_norm(params, 1.0);
        opt.step(lr);
        opt.zero_grad();
        loss_v = loss.item<double>();
      } else {
        torch::NoGradGuard ng;
        torch::Tensor logits = task.net().end_logits(step_seqs[static_cast<size_t>(i)], torch::kCPU);  // [E,C]
        torch::Tensor out = prm ? rm::step_probability(logits) : logits.squeeze(-1);                      // [E]
        loss_v = out.sum().item<double>();
        t1 = t2 = now_s();
      }
      const double t3 = now_s();
      getrusage(RUSAGE_SELF, &ru1);
      json p = ref.step(i, i + 1 < n_steps);
      RLEIF_CHECK(p["tokens"].get<double>() == step_tokens[static_cast<size_t>(i)], "step ", i, ": the reference saw ",
                  p["tokens"].dump(), " tokens, rleif ", step_tokens[static_cast<size_t>(i)], " (different batches)");
      if (i == 0) rl_first = loss_v, py_first = p["loss"].get<double>();
      py_threads = p.value("threads", int64_t{0});
      RLEIF_CHECK(!p.value("checkpointing", false), "the reference runs with gradient checkpointing; rleif does not");
      if (i < warmup) continue;
      rl.step.push_back(t3 - t0), rl.fwd.push_back(t1 - t0), rl.bwd.push_back(t2 - t1), rl.opt.push_back(t3 - t2);
      py.step.push_back(p["step_s"].get<double>()), py.fwd.push_back(p["fwd_s"].get<double>());
      py.bwd.push_back(p["bwd_s"].get<double>()), py.opt.push_back(p["opt_s"].get<double>());
      rl.faults += static_cast<double>(ru1.ru_minflt - ru0.ru_minflt);
      py.faults += p.value("minflt", 0.0);
      // Per-step tokens/s ratio = inverse time ratio (the same tokens).
      ratios.push_back(py.step.back() / rl.step.back());
      tokens_timed += step_tokens[static_cast<size_t>(i)];
    }

    int64_t n_params = 0;
    for (auto& p : model.parameters()) n_params += p.numel();
    const double per_step = tokens_timed / static_cast<double>(steps);
    const char* ref_name = lik ? (train ? "PyTorch loop" : "PyTorch fwd") : train ? (prm ? "TRL PRMTrainer" : "TRL RewardTrainer") : "transformers fwd";
    std::printf("model %s: %.2fM parameters (%s head), %lld threads (reference: %lld), %s %s, batch %lld, "
                "mean %.0f tokens/step\n",
                model_config.c_str(), static_cast<double>(n_params) / 1e6, lik ? "likelihood" : prm ? "token, 2 labels" : "sequence",
                static_cast<long long>(threads), static_cast<long long>(py_threads), task_name.c_str(), what.c_str(),
                static_cast<long long>(batch), per_step);
    std::printf("padding in the reference's [B,T] batches: %.1f%% of positions (rleif packs the rows)\n",
                100.0 * (1.0 - real / padded));
    std::printf("first-step %s: rleif %.6f, reference %.6f (same weights and batch)\n", train ? "loss" : "score sum",
                rl_first, py_first);
    print_side("rleif           ", rl, per_step);
    print_side(ref_name, py, per_step);
    std::printf("page faults per step (mean): rleif %.0f, reference %.0f\n", rl.faults / static_cast<double>(steps),
                py.faults / static_cast<double>(steps));
    auto sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
    std::printf("ratio rleif / %s: %.2fx (median of %zu per-step ratios, steps interleaved; range %.2f-%.2f)\n", ref_name,
                median(ratios), ratios.size(), sorted.front(), sorted.back());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rm_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
