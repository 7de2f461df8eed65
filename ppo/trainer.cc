#include "ppo/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <optional>

#include "core/dist/dist.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/strings.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "model/lora_io.h"
#include "ppo/experience.h"
#include "ppo/forward.h"
#include "rollout/engine.h"
#include "rollout/text_stream.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/optim.h"
#include "train/runtime.h"
#include "train/tensor_io.h"
#include "train/trainer.h"

namespace rleif::ppo {
namespace fsys = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// splitmix64 of a few words: the sampling seed of (run seed, iteration, prompt).
int64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL) * 0xBF58476D1CE4E5B9ULL ^ (c + 1) * 0x94D049BB133111EBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return static_cast<int64_t>((z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFFULL);
}

std::string file_or_empty(const std::string& p) { return path_exists(p) ? read_file(p) : std::string(); }

// Drops metrics lines past `iteration` (a resumed run redoes those iterations; -1 drops all) and a
// line cut off by a kill, so metrics.jsonl ends as an uninterrupted run's would.
void trim_metrics(const std::string& path, int64_t iteration) {
  if (!path_exists(path)) return;
  const std::string text = read_file(path);
  std::string kept;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("iteration", int64_t{-1}) <= iteration) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

struct State {
  int64_t iteration = 0;
  int64_t optimizer_steps = 0;
  int64_t tokens = 0;  // generated tokens trained on
  double elapsed_s = 0;
  json to_json(const json& kl) const {
    return json{{"iteration", iteration}, {"optimizer_steps", optimizer_steps}, {"tokens", tokens}, {"elapsed_s", elapsed_s},
                {"kl_controller", kl}};
  }
};

class Loop {
 public:
  Loop(const PpoConfig& cfg, std::string config_yaml, RemoteRewardFn remote)
      : cfg_(cfg), yaml_(std::move(config_yaml)), remote_(std::move(remote)),
        ckpt_(cfg.train.output_dir, static_cast<int>(cfg.train.keep_last)), kl_(cfg.algo.kl) {}
  PpoResult run();

 private:
  void load_models(const std::string& resume);
  // The policy as `dir`: its adapter with LoRA (merged at the end with lora.merge_on_save), else the model.
  void save_policy(const std::string& dir, bool final);
  void save_checkpoint();
  void resume_from(const std::string& dir);
  Experience rollout(int64_t it, json& m);
  void update(Experience& e, int64_t it, bool policy_on, json& m);
  json evaluate();
  bool use_critic() const { return cfg_.algo.advantage == Advantage::gae; }
  bool use_ref() const { return cfg_.algo.kl.beta > 0 || cfg_.algo.kl.target > 0; }

  PpoConfig cfg_;
  std::string yaml_;
  RemoteRewardFn remote_;
  train::Checkpointer ckpt_;
  KlController kl_;
  State st_;
  torch::Device device_{torch::kCPU};
  std::optional<torch::ScalarType> amp_;
  std::unique_ptr<Tokenizer> tok_;
  std::string tok_path_;
  train::PromptTemplate tmpl_ = train::PromptTemplate::alpaca;
  std::vector<train::EvalProblem> prompts_, eval_;
  model::CausalLM actor_{nullptr}, ref_{nullptr};
  model::ScoreModel critic_{nullptr};
  std::unique_ptr<train::AdamW> actor_opt_, critic_opt_;
  std::unique_ptr<rollout::Engine> engine_;
  std::unique_ptr<Rewarder> rewarder_;
  std::vector<int64_t> eos_;
  dist::Context* dp_ = nullptr;  // the ranks of a torchrun job (one in a plain run)
};

void Loop::load_models(const std::string& resume) {
  model::LoadOptions lo;
  lo.dtype = torch::kFloat32;
  lo.device = device_;
  if (cfg_.lora.enabled()) {
    // The frozen base is always policy.path; a checkpoint holds the adapter only.
    actor_ = model::load_causal_lm(cfg_.policy.path, lo);
    model::add_lora(*actor_, cfg_.lora);
    if (!resume.empty()) model::load_lora_adapter(*actor_, resume);
  } else {
    actor_ = model::load_causal_lm(resume.empty() ? cfg_.policy.path : resume, lo);
  }
  actor_->train();
  if (use_ref() && cfg_.lora.enabled()) {
    ref_ = actor_;  // the reference is the actor with its adapters off (model::LoraDisabled): no second copy
  } else if (use_ref()) {
    ref_ = model::load_causal_lm(cfg_.policy.path, lo);
    ref_->eval();
    for (auto& p : ref_->parameters()) p.set_requires_grad(false);
  }
  if (use_critic()) {
    std::string from = cfg_.critic.path;
    if (!resume.empty()) from = (fsys::path(resume) / "critic").string();
    else if (from.empty()) from = cfg_.reward.kind == RewardKind::orm ? cfg_.reward.orm : cfg_.policy.path;
    // The critic reads the policy's tokens: its vocabulary must be the policy's.
    const std::string tj = (fsys::path(from) / "tokenizer.json").string();
    RLEIF_CHECK(!path_exists(tj) || file_or_empty(tj) == file_or_empty(tok_path_), "the critic would start from ", from,
                ", whose tokenizer.json differs from the policy's (", tok_path_, "); a critic reads the policy's token ids, "
                "so start it from a model with the policy's tokenizer (critic.path=", cfg_.policy.path, ")");
    torch::manual_seed(static_cast<uint64_t>(cfg_.train.seed));
    critic_ = model::load_score_model(from, lo, /*allow_new_head=*/true, 1);
    RLEIF_CHECK(critic_->cfg.vocab_size == actor_->cfg.vocab_size, "the critic (", from, ") has a vocabulary of ",
                critic_->cfg.vocab_size, " but the policy's is ", actor_->cfg.vocab_size, "; set critic.path to a model "
                "with the policy's tokenizer");
    std::error_code ec1;
    if (resume.empty() && fsys::equivalent(from, cfg_.policy.path, ec1) && !ec1) {
      torch::NoGradGuard ng;
      critic_->score->weight.zero_();  // a fresh value head predicts 0 until it learns
    }
    critic_->train();
  }
}

void Loop::save_policy(const std::string& dir, bool final) {
  const std::string tok_dir = fsys::path(tok_path_).parent_path().string();
  if (cfg_.lora.enabled() && !(final && cfg_.lora.merge_on_save))
    model::save_lora_adapter(*actor_, {cfg_.policy.path, "CAUSAL_LM", cfg_.lora, {}}, dir, tok_dir);
  else
    model::save_causal_lm(actor_, dir, tok_dir);  // with adapters: merged into their weights
  train::write_model_template(dir, tmpl_);
}

void Loop::save_checkpoint() {
  ckpt_.save(
      st_.iteration, [&](const std::string& dir) { save_policy(dir, false); },
      [&](const std::string& dir) {
        if (critic_) model::save_score_model(critic_, (fsys::path(dir) / "critic").string(),
                                             fsys::path(tok_path_).parent_path().string());
        train::save_tensors((fsys::path(dir) / "optimizer.safetensors").string(), actor_opt_->state());
        if (critic_opt_) train::save_tensors((fsys::path(dir) / "critic_optimizer.safetensors").string(), critic_opt_->state());
        train::save_tensors((fsys::path(dir) / "rng.safetensors").string(), train::capture_rng());
        write_file_atomic((fsys::path(dir) / "config.yaml").string(), yaml_);
        // trainer_state.json: the name by which train::Checkpointer knows a checkpoint is complete.
        write_file_atomic((fsys::path(dir) / "trainer_state.json").string(), st_.to_json(kl_.state()).dump(2) + "\n");
      });
}

void Loop::resume_from(const std::string& dir) {
  const std::string sp = (fsys::path(dir) / "trainer_state.json").string();
  json j = json::parse(read_file(sp), nullptr, false);
  RLEIF_CHECK(j.is_object() && j.contains("iteration"), sp, ": not a ppo state; the checkpoint is damaged (delete it)");
  st_.iteration = j["iteration"].get<int64_t>();
  st_.optimizer_steps = j.value("optimizer_steps", int64_t{0});
  st_.tokens = j.value("tokens", int64_t{0});
  st_.elapsed_s = j.value("elapsed_s", 0.0);
  kl_.load_state(j.value("kl_controller", json::object()), sp);
  auto load_opt = [](train::AdamW& o, const std::string& p) {
    auto s = train::load_tensors(p);
    o.load_state([&](const std::string& k) { auto it = s.find(k); return it == s.end() ? torch::Tensor() : it->second; }, p);
  };
  load_opt(*actor_opt_, (fsys::path(dir) / "optimizer.safetensors").string());
  if (critic_opt_) load_opt(*critic_opt_, (fsys::path(dir) / "critic_optimizer.safetensors").string());
  std::vector<std::pair<std::string, torch::Tensor>> rng;
  const std::string rp = (fsys::path(dir) / "rng.safetensors").string();
  for (auto& [k, v] : train::load_tensors(rp)) rng.emplace_back(k, v);
  train::restore_rng(rng, rp);
  if (file_or_empty((fsys::path(dir) / "config.yaml").string()) != yaml_)
    log_warn("the config differs from the one stored in ", dir, "; resuming with the new one");
}

Experience Loop::rollout(int64_t it, json& m) {
  const auto& ro = cfg_.rollout;
  const int64_t np = static_cast<int64_t>(prompts_.size());
  const uint64_t seed = static_cast<uint64_t>(cfg_.train.seed);
  std::vector<int64_t> chosen;
  std::vector<rollout::Request> reqs;
  std::vector<int64_t> perm;
  int64_t perm_epoch = -1;
  // This rank's contiguous share of the iteration's prompts (all of them in one process): whole
  // GRPO / RLOO groups, each sampled with its own seed whichever rank draws it.
  const auto [k_lo, k_hi] = dist::shard(ro.prompts_per_iteration, dp_->rank(), dp_->size());
  for (int64_t k = 0; k < ro.prompts_per_iteration; ++k) {
    const int64_t pos = it * ro.prompts_per_iteration + k;
    if (pos / np != perm_epoch) {
      perm_epoch = pos / np;
      perm = train::epoch_permutation(np, seed, perm_epoch);
    }
    const int64_t p = perm[static_cast<size_t>(pos % np)];
    if (k < k_lo || k >= k_hi) continue;
    chosen.push_back(p);
    rollout::Request r;
    r.prompt = tok_->encode(train::render_prompt(tmpl_, prompts_[static_cast<size_t>(p)].question), true);
    r.params.n = ro.n;
    r.params.temperature = ro.temperature;
    r.params.top_p = ro.top_p;
    r.params.max_new_tokens = ro.max_new_tokens;
    r.params.stop = ro.stop;
    r.params.seed = mix_seed(seed, static_cast<uint64_t>(it), static_cast<uint64_t>(k));
    reqs.push_back(std::move(r));
  }
  auto t0 = Clock::now();
  std::vector<rollout::Completion> done;
  if (!reqs.empty()) {
    torch::NoGradGuard ng;
    done = engine_->generate(reqs);
  }
  m["time_rollout_s"] = since(t0);

  // This rank's rows; then every rank learns all rows (in rank order: the one-process order).
  std::vector<SeqRow> my_rows;
  std::vector<int64_t> my_group;
  std::vector<RewardItem> items;
  std::vector<std::vector<int64_t>> text_ends;
  for (size_t k = 0; k < done.size(); ++k)
    for (auto& s : done[k].samples) {
      SeqRow row;
      row.prompt = reqs[k].prompt;
      row.response = s.tokens;
      RLEIF_CHECK(!row.response.empty(), "ppo: the engine returned an empty sample");
      my_rows.push_back(std::move(row));
      my_group.push_back(k_lo + static_cast<int64_t>(k));
      const auto& pr = prompts_[static_cast<size_t>(chosen[k])];
      items.push_back(RewardItem{pr.question, s.text, pr.truth, s.finish == rollout::FinishReason::stop});
      if (cfg_.reward.per_step) {
        rollout::Detokenizer d(tok_.get(), reqs[k].prompt);
        std::vector<int64_t> ends;
        int64_t len = 0;
        for (int32_t t : s.tokens) ends.push_back(len += static_cast<int64_t>(d.push(t).size()));
        text_ends.push_back(std::move(ends));
      }
    }
  const int64_t bl = static_cast<int64_t>(my_rows.size());
  int64_t row_lo = 0;  // this rank's first row in the iteration's batch
  Experience e;
  if (dp_->distributed()) {
    json mine = json::array();
    for (size_t i = 0; i < my_rows.size(); ++i) mine.push_back(json{my_rows[i].prompt, my_rows[i].response, my_group[i]});
    const auto all = dp_->all_gather(mine.dump(), str("the samples of iteration ", it + 1));
    for (int r = 0; r < dp_->size(); ++r) {
      const json part = json::parse(all[static_cast<size_t>(r)]);
      if (r == dp_->rank()) row_lo = static_cast<int64_t>(e.rows.size());
      for (const auto& x : part) {
        e.rows.push_back(SeqRow{x[0].get<std::vector<int32_t>>(), x[1].get<std::vector<int32_t>>()});
        e.group.push_back(x[2].get<int64_t>());
      }
    }
  } else {
    e.rows = std::move(my_rows);
    e.group = std::move(my_group);
  }
  const int64_t b = static_cast<int64_t>(e.rows.size());
  // Rows [row_lo, row_lo + bl) of a [b, ...] tensor from each rank's [bl, ...] share (identity in one process).
  auto gather = [&](const torch::Tensor& t, const char* what) {
    if (!dp_->distributed()) return t;
    auto sizes = t.sizes().vec();
    sizes[0] = b;
    auto all = torch::zeros(sizes, t.options());
    if (bl > 0) all.narrow(0, row_lo, bl).copy_(t);
    dp_->all_reduce_sum(all, str(what, " of iteration ", it + 1));
    return all;
  };
  std::vector<int64_t> mine_idx(static_cast<size_t>(bl));
  std::iota(mine_idx.begin(), mine_idx.end(), row_lo);
  for (const auto& r : e.rows) e.width = std::max<int64_t>(e.width, static_cast<int64_t>(r.response.size()));
  e.mask = response_mask(e.rows, [&] { std::vector<int64_t> a(b); std::iota(a.begin(), a.end(), 0); return a; }(),
                         e.width, device_);

  // Rewards: each rank scores its own rows.
  t0 = Clock::now();
  std::vector<RewardResult> res;
  if (!items.empty()) res = rewarder_->score(items);
  m["time_reward_s"] = since(t0);
  std::vector<float> scores(static_cast<size_t>(bl)), keep(static_cast<size_t>(bl));
  int64_t nan = 0, no_eos = 0, no_answer = 0, empty = 0, correct = 0, judged = 0;
  double r_i = 0, r_a = 0;
  int64_t n_i = 0, n_a = 0;
  for (int64_t i = 0; i < bl; ++i) {
    const auto& r = res[static_cast<size_t>(i)];
    if (!std::isfinite(r.score)) ++nan;
    scores[static_cast<size_t>(i)] = std::isfinite(r.score) ? static_cast<float>(r.score) : 0.0f;
    keep[static_cast<size_t>(i)] = std::isfinite(r.score) ? 1.f : 0.f;
    no_eos += !items[static_cast<size_t>(i)].eos;
    no_answer += !r.answered;
    empty += trim(items[static_cast<size_t>(i)].response).empty();
    if (r.correct >= 0) { ++judged; correct += r.correct; }
    if (!std::isnan(r.r_i)) { r_i += r.r_i; ++n_i; }
    if (!std::isnan(r.r_a)) { r_a += r.r_a; ++n_a; }
  }
  if (dp_->distributed()) {
    const json s = dp_->sum_numbers(json{{"nan", nan}, {"no_eos", no_eos}, {"no_answer", no_answer}, {"empty", empty},
                                         {"correct", correct}, {"judged", judged}, {"r_i", r_i}, {"r_a", r_a},
                                         {"n_i", n_i}, {"n_a", n_a}},
                                    str("the reward counts of iteration ", it + 1));
    auto count = [&](const char* k) { return static_cast<int64_t>(std::llround(s.value(k, 0.0))); };
    nan = count("nan"), no_eos = count("no_eos"), no_answer = count("no_answer"), empty = count("empty");
    correct = count("correct");
    judged = count("judged"), n_i = count("n_i"), n_a = count("n_a");
    r_i = s.value("r_i", 0.0), r_a = s.value("r_a", 0.0);
  }
  e.scores = gather(torch::tensor(scores, torch::kFloat32), "the rewards").to(device_);
  if (cfg_.reward.per_step) {
    auto sr = torch::zeros({bl, e.width}, torch::kFloat32);
    for (int64_t i = 0; i < bl; ++i) {
      const auto& r = res[static_cast<size_t>(i)];
      std::vector<int64_t> offs;
      for (auto& [c, v] : r.step_scores) offs.push_back(c);
      auto toks = offsets_to_tokens(offs, text_ends[static_cast<size_t>(i)]);
      for (size_t s = 0; s < toks.size(); ++s) sr[i][toks[s]] += static_cast<float>(r.step_scores[s].second);
    }
    e.step_rewards = gather(sr, "the step rewards").to(device_);
  }
  // A NaN reward (a broken remote RM, say) must not train: its row is masked out of the update.
  if (nan > 0) {
    auto k = gather(torch::tensor(keep, torch::kFloat32), "the usable rewards").to(device_);
    e.mask = e.mask * k.unsqueeze(1);
    e.valid = k > 0.5;
  }
  {
    auto live = e.valid.defined() ? e.scores.masked_select(e.valid) : e.scores;  // NaN rows left out
    m["reward"] = live.numel() ? live.mean().item<double>() : 0.0;
    m["reward_std"] = live.numel() > 1 ? live.std().item<double>() : 0.0;
  }
  if (n_i) m["r_I"] = r_i / static_cast<double>(n_i);
  if (n_a) m["r_A"] = r_a / static_cast<double>(n_a);
  if (judged) m["train_accuracy"] = static_cast<double>(correct) / static_cast<double>(judged);
  m["no_eos_share"] = static_cast<double>(no_eos) / static_cast<double>(b);
  m["no_answer_share"] = static_cast<double>(no_answer) / static_cast<double>(b);
  m["empty_responses"] = empty;
  m["nan_rewards_skipped"] = nan;
  m["response_length"] = e.mask.sum().item<double>() / static_cast<double>(std::max<int64_t>(b - nan, 1));
  m["zero_std_share"] = zero_std_share(e.scores.cpu(), torch::tensor(e.group, torch::kInt64));

  // Old log-probs, reference log-probs, values: no grad, in micro-batches, each rank over its own
  // rows (a row's numbers do not depend on the others'). At temperature 1 the
  // engine's log-probs are the old log-probs (log p under the weights it sampled with, as TRL takes
  // generate()'s scores; logprob_gap checks them against the trainer's forward on the first and every
  // 10th iteration), so the policy forward is skipped unless rollout.recompute_logprobs. On-policy
  // (one epoch, one minibatch) the update uses its own forward's numbers anyway (ratio exactly 1).
  const bool use_engine_lp = cfg_.rollout.temperature == 1.0 && !cfg_.rollout.recompute_logprobs;
  const bool check_gap = cfg_.rollout.temperature == 1.0 && it % 10 == 0;
  torch::Tensor engine_lp;
  if (cfg_.rollout.temperature == 1.0) {
    engine_lp = torch::zeros({bl, e.width}, torch::kFloat32);
    int64_t i = 0;
    for (auto& c : done)
      for (auto& s : c.samples) {
        engine_lp[i].narrow(0, 0, static_cast<int64_t>(s.logprobs.size())).copy_(torch::tensor(s.logprobs, torch::kFloat32));
        ++i;
      }
    engine_lp = gather(engine_lp, "the sampling log-probs").to(device_) * e.mask;
  }
  t0 = Clock::now();
  {
    torch::NoGradGuard ng;
    train::AutocastGuard ac(device_, amp_);
    std::vector<torch::Tensor> lp, ref, val;
    for (int64_t s = 0; s < bl; s += cfg_.algo.micro_batch) {
      std::vector<int64_t> idx(mine_idx.begin() + s, mine_idx.begin() + std::min(bl, s + cfg_.algo.micro_batch));
      if (!use_engine_lp || check_gap)
        lp.push_back(policy_forward(actor_, e.rows, idx, e.width, cfg_.rollout.temperature, false, device_).logp);
      if (ref_) {
        std::optional<model::LoraDisabled> base;  // a LoRA actor is its own reference with the adapters off
        if (cfg_.lora.enabled()) base.emplace(*ref_);
        ref.push_back(policy_forward(ref_, e.rows, idx, e.width, cfg_.rollout.temperature, false, device_).logp);
      }
      if (critic_) val.push_back(critic_values(critic_, e.rows, idx, e.width, device_));
    }
    // This rank's [bl, A] rows of a forward, gathered to [b, A].
    auto all_rows = [&](std::vector<torch::Tensor>& parts, const char* what) {
      return gather(parts.empty() ? torch::zeros({0, e.width}, torch::TensorOptions().dtype(torch::kFloat32).device(device_))
                                  : torch::cat(parts), what);
    };
    torch::Tensor trainer_lp = (!use_engine_lp || check_gap) ? all_rows(lp, "the policy log-probs") : torch::Tensor();
    e.old_logp = use_engine_lp ? engine_lp : trainer_lp;
    if (check_gap && trainer_lp.defined())
      m["logprob_gap"] = ((engine_lp - trainer_lp).abs() * e.mask).sum().item<double>() / std::max(1.0, e.mask.sum().item<double>());
    if (ref_) {
      e.ref_logp = all_rows(ref, "the reference log-probs");
      e.kl = kl_estimate(e.old_logp, e.ref_logp, e.mask, cfg_.algo.kl_estimator);
    }
    if (critic_) e.values = all_rows(val, "the critic values") * e.mask;
  }
  m["time_experience_s"] = since(t0);
  if (ref_) {
    m["kl"] = ((e.kl * e.mask).sum(1)).mean().item<double>();  // per sequence
    m["kl_beta"] = kl_.beta();
  }
  // On the whole batch on every rank: group and whitening statistics and token counts are global.
  compute_advantages(e, cfg_.algo, kl_.beta());
  return e;
}

void Loop::update(Experience& e, int64_t it, bool policy_on, json& m) {
  const auto& a = cfg_.algo;
  const int64_t b = e.mask.size(0);
  const bool on_policy = a.ppo_epochs == 1 && a.minibatches == 1;
  auto t0 = Clock::now();
  double sum_clip = 0, sum_ent = 0, sum_vloss = 0, sum_vclip = 0, sum_tokens = 0, sum_ratio = 0, sum_pg = 0;
  double gn_actor = 0, gn_critic = 0;
  int64_t n_steps = 0;
  const uint64_t seed = static_cast<uint64_t>(mix_seed(static_cast<uint64_t>(cfg_.train.seed), static_cast<uint64_t>(it), 7));
  for (int64_t ep = 0; ep < a.ppo_epochs; ++ep) {
    auto perm = train::epoch_permutation(b, seed, ep);
    for (int64_t mb = 0; mb < a.minibatches; ++mb) {
      const int64_t lo = b * mb / a.minibatches, hi = b * (mb + 1) / a.minibatches;
      std::vector<int64_t> rows(perm.begin() + lo, perm.begin() + hi);
      // The minibatch is the permutation's slice; within it rows go in batch order, so a prompt's samples
      // that fall in the same minibatch are adjacent and share their prompt in the packed forward
      // (ppo/forward.h). The gradient is the minibatch's sum either way (the normaliser is its count).
      std::sort(rows.begin(), rows.end());
      auto ridx = torch::tensor(rows, torch::kInt64).to(device_);
      const double tokens = e.mask.index_select(0, ridx).sum().item<double>();
      const double denom = a.loss_agg == LossAgg::token_mean ? tokens : static_cast<double>(rows.size());
      if (tokens == 0) continue;
      const double lr_mult = train::lr_multiplier(cfg_.schedule, st_.optimizer_steps,
                                                  cfg_.train.iterations * a.ppo_epochs * a.minibatches);
      // The minibatch's micro-batches, shared among the ranks as train::Trainer shares a step's.
      const int64_t n_micro = (static_cast<int64_t>(rows.size()) + a.micro_batch - 1) / a.micro_batch;
      const auto [mine_lo, mine_hi] = dist::shard(n_micro, dp_->rank(), dp_->size());
      for (size_t s = static_cast<size_t>(mine_lo * a.micro_batch); s < std::min(rows.size(), static_cast<size_t>(mine_hi * a.micro_batch));
           s += static_cast<size_t>(a.micro_batch)) {
        std::vector<int64_t> idx(rows.begin() + static_cast<int64_t>(s),
                                 rows.begin() + static_cast<int64_t>(std::min(rows.size(), s + static_cast<size_t>(a.micro_batch))));
        auto ii = torch::tensor(idx, torch::kInt64).to(device_);
        auto mask = e.mask.index_select(0, ii);
        train::AutocastGuard ac(device_, amp_);
        if (policy_on) {
          const bool want_ent = a.entropy_coef > 0 || ep == 0;
          auto pf = policy_forward(actor_, e.rows, idx, e.width, cfg_.rollout.temperature, want_ent, device_);
          // On-policy (one epoch, one minibatch) the old log-probs are these very numbers: the ratio is
          // exactly 1 whatever the micro-batching, as the algorithm says it is.
          auto old = on_policy ? pf.logp.detach() : e.old_logp.index_select(0, ii);
          auto adv = e.advantages.index_select(0, ii);
          auto pl = policy_loss(pf.logp, old, adv, mask, a.clip_low, a.clip_high, a.dual_clip);
          auto loss = aggregate_loss(pl.loss, mask, a.loss_agg, denom, e.width);
          if (ref_ && a.kl_in == KlPlacement::loss && kl_.beta() > 0) {
            auto kl = kl_estimate(pf.logp, e.ref_logp.index_select(0, ii), mask, a.kl_estimator);
            loss = loss + kl_.beta() * aggregate_loss(kl, mask, a.loss_agg, denom, e.width);
          }
          if (a.entropy_coef > 0) loss = loss - a.entropy_coef * aggregate_loss(pf.entropy, mask, a.loss_agg, denom, e.width);
          loss.backward();
          sum_pg += (pl.loss * mask).sum().item<double>();
          sum_clip += (pl.clipped * mask).sum().item<double>();
          sum_ratio += (pl.ratio.detach() * mask).sum().item<double>();
          if (pf.entropy.defined() && ep == 0) sum_ent += (pf.entropy.detach() * mask).sum().item<double>();
        }
        if (critic_) {
          auto v = critic_values(critic_, e.rows, idx, e.width, device_);
          auto vl = value_loss(v, e.values.index_select(0, ii), e.returns.index_select(0, ii), mask, a.value_clip);
          auto loss = aggregate_loss(vl.loss, mask, LossAgg::token_mean, tokens);
          loss.backward();
          sum_vloss += (vl.loss.detach() * mask).sum().item<double>();
          sum_vclip += (vl.clipped * mask).sum().item<double>();
        }
        sum_tokens += mask.sum().item<double>();
      }
      auto step = [&](train::AdamW& opt, double lr) {
        std::vector<torch::Tensor> ps;
        for (auto& g : opt.groups()) ps.insert(ps.end(), g.params.begin(), g.params.end());
        if (dp_->distributed()) dp_->all_reduce_gradients(ps);  // the minibatch's gradient: every rank's share summed
        const double gn = train::clip_grad_norm(ps, cfg_.train.max_grad_norm);
        RLEIF_CHECK(std::isfinite(gn), "ppo: the gradient norm is ", gn, " at iteration ", it + 1,
                    "; lower optim.lr or check the rewards (metrics.jsonl)");
        opt.step(lr);
        opt.zero_grad();
        return gn;
      };
      if (policy_on) gn_actor += step(*actor_opt_, cfg_.optim.lr * lr_mult);
      if (critic_) gn_critic += step(*critic_opt_, cfg_.critic_optim.lr * lr_mult);
      ++st_.optimizer_steps;
      ++n_steps;
    }
  }
  if (dp_->distributed()) {
    const json t = dp_->sum_numbers(json{{"pg", sum_pg}, {"clip", sum_clip}, {"ratio", sum_ratio}, {"ent", sum_ent},
                                         {"vloss", sum_vloss}, {"vclip", sum_vclip}, {"tokens", sum_tokens}},
                                    str("the update metrics of iteration ", it + 1));
    sum_pg = t.value("pg", 0.0), sum_clip = t.value("clip", 0.0), sum_ratio = t.value("ratio", 0.0);
    sum_ent = t.value("ent", 0.0), sum_vloss = t.value("vloss", 0.0), sum_vclip = t.value("vclip", 0.0);
    sum_tokens = t.value("tokens", 0.0);
  }
  const double tok = std::max(1.0, sum_tokens);
  if (policy_on) {
    m["policy_loss"] = sum_pg / tok;
    m["clipfrac"] = sum_clip / tok;
    m["ratio"] = sum_ratio / tok;
    m["entropy"] = sum_ent / std::max(1.0, e.mask.sum().item<double>());
    m["grad_norm"] = gn_actor / std::max<int64_t>(n_steps, 1);
  }
  if (critic_) {
    m["value_loss"] = sum_vloss / tok;
    m["value_clipfrac"] = sum_vclip / tok;
    m["critic_grad_norm"] = gn_critic / std::max<int64_t>(n_steps, 1);
    m["explained_variance"] = explained_variance(e.values, e.returns, e.mask);
  }
  m["time_train_s"] = since(t0);
  st_.tokens += static_cast<int64_t>(e.mask.sum().item<double>());
}

json Loop::evaluate() {
  if (eval_.empty()) return json::object();
  train::GreedyEvalOptions go;
  go.prompt_template = tmpl_;
  go.max_new_tokens = cfg_.data.eval_max_new_tokens;
  go.batch_size = 64;
  go.stop = cfg_.rollout.stop;
  auto rng = train::capture_rng();
  auto s = train::evaluate_greedy(actor_, *tok_, eval_, go, eos_);
  train::restore_rng(rng, "evaluation");
  return json{{"accuracy", s.accuracy()}, {"correct", s.correct}, {"n", s.n}};
}

PpoResult Loop::run() {
  const auto& tr = cfg_.train;
  train::configure_threads(static_cast<int>(tr.threads));
  device_ = model::parse_device(tr.device, "train.device");
  dp_ = &dist::Context::world(tr.dist, device_);
  dist::Context& dp = *dp_;
  if (dp.distributed()) device_ = dp.device();  // CUDA: cuda:LOCAL_RANK
  RLEIF_CHECK(cfg_.rollout.prompts_per_iteration >= dp.size(), "rollout.prompts_per_iteration = ",
              cfg_.rollout.prompts_per_iteration, " but ", dp.size(), " ranks run: each rank samples its share of an ",
              "iteration's prompts, so some would idle; set rollout.prompts_per_iteration to at least WORLD_SIZE");
  train::configure_determinism(tr.deterministic, static_cast<uint64_t>(tr.seed));
  amp_ = train::autocast_dtype(tr.precision, device_);
  make_dirs(tr.output_dir);
  if (dp.is_main()) ckpt_.remove_temporaries();
  std::string resume;
  if (tr.resume) {
    resume = dp.share(dp.is_main() ? ckpt_.latest() : std::string(), "choosing the checkpoint to resume from");
    RLEIF_CHECK(resume.empty() || is_directory(resume), "rank ", dp.rank(), ": rank 0 resumes from ", resume,
                ", which this process cannot see; put train.output_dir on a filesystem all ranks share");
  }
  if (!tr.resume)
    RLEIF_CHECK(ckpt_.list().empty(), tr.output_dir, " already holds checkpoints and train.resume=false; choose a new "
                "train.output_dir or delete ", ckpt_.dir());

  tok_path_ = cfg_.policy.tokenizer.empty() ? cfg_.policy.path : cfg_.policy.tokenizer;
  if (is_directory(tok_path_)) tok_path_ = (fsys::path(tok_path_) / "tokenizer.json").string();
  RLEIF_CHECK(path_exists(tok_path_), tok_path_, ": no tokenizer.json; set policy.tokenizer");
  tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file(tok_path_));
  if (!cfg_.data.prompt_template.empty())
    tmpl_ = parse_enum<train::PromptTemplate>(cfg_.data.prompt_template, "data.template");
  else if (auto t = train::read_model_template(cfg_.policy.path)) tmpl_ = *t;
  prompts_ = train::load_eval_problems(cfg_.data.prompts, cfg_.data.limit, /*require_truth=*/cfg_.reward.kind == RewardKind::rule);
  RLEIF_CHECK(!prompts_.empty(), cfg_.data.prompts, ": no prompts");
  if (!cfg_.data.eval.empty() && cfg_.data.eval_samples > 0) eval_ = train::load_eval_problems(cfg_.data.eval, cfg_.data.eval_samples);

  load_models(resume);
  eos_ = train::stop_token_ids(*tok_, actor_->cfg);
  actor_opt_ = std::make_unique<train::AdamW>(train::decay_groups(*actor_, cfg_.optim.weight_decay), cfg_.optim);
  if (critic_)
    critic_opt_ = std::make_unique<train::AdamW>(train::decay_groups(*critic_, cfg_.critic_optim.weight_decay), cfg_.critic_optim);
  if (dp.distributed()) {
    // Every rank must see the same prompts and models; then rank 0's weights are copied to all.
    std::vector<torch::Tensor> ps;
    for (auto* o : {actor_opt_.get(), critic_opt_.get()})
      if (o)
        for (auto& g : o->groups()) ps.insert(ps.end(), g.params.begin(), g.params.end());
    int64_t numel = 0;
    for (const auto& p : ps) numel += p.numel();
    dp.start_alike(str(prompts_.size(), " prompts and ", ps.size(), " trained tensors (", numel, " values)"), ps,
                   "prompts and models");
  }
  if (!resume.empty()) {
    resume_from(resume);
    log_info("resuming from ", resume, " at iteration ", st_.iteration, "/", tr.iterations);
  }
  // A rank's reward models share its device (cuda:LOCAL_RANK under torchrun).
  rewarder_ = std::make_unique<Rewarder>(cfg_.reward, tmpl_, tr.device == "auto" || dp.distributed() ? device_.str() : tr.device,
                                         remote_);
  if (cfg_.reward.kind == RewardKind::rleif && cfg_.reward.irm_scale == IrmScale::rank) {
    // Evenly spaced over the prompts file, the same on every start (a resumed run ranks alike).
    const size_t np = prompts_.size(), nr = std::min<size_t>(np, static_cast<size_t>(cfg_.reward.irm_reference_prompts));
    std::vector<std::string> ref;
    for (size_t j = 0; j < nr; ++j) ref.push_back(prompts_[j * np / nr].question);
    const auto logits = rewarder_->set_irm_reference(ref);
    log_info("r_I by rank among ", nr, " training prompts' IRM logits (", logits.front(), " to ", logits.back(),
             ", median ", logits[logits.size() / 2], ")");
  }
  const std::string own_tok = file_or_empty(tok_path_);
  for (const auto& d : rewarder_->model_dirs())
    if (file_or_empty((fsys::path(d) / "tokenizer.json").string()) != own_tok)
      log_info("reward model ", d, " has its own tokenizer; it scores the decoded text (as it would any text)");

  PpoResult result;
  const std::string model_dir = (fsys::path(tr.output_dir) / "model").string();
  std::optional<JsonlAppender> metrics;  // rank 0 writes the job's files
  if (dp.is_main()) {
    trim_metrics((fsys::path(tr.output_dir) / "metrics.jsonl").string(), resume.empty() ? -1 : st_.iteration);
    metrics.emplace((fsys::path(tr.output_dir) / "metrics.jsonl").string());
  }
  if (st_.iteration >= tr.iterations) {
    log_info("the run in ", tr.output_dir, " is already complete (", st_.iteration, " iterations)");
    if (!dp.is_main()) {
      dp.barrier("the end of a complete run");
      result.iteration = st_.iteration;
      result.model_dir = model_dir;
      return result;
    }
    if (!path_exists((fsys::path(model_dir) / "config.json").string()) && !model::is_adapter_dir(model_dir))
      save_policy(model_dir, true);
    const std::string critic_dir = (fsys::path(tr.output_dir) / "critic").string();
    if (critic_ && !path_exists((fsys::path(critic_dir) / "config.json").string()))
      model::save_score_model(critic_, critic_dir, fsys::path(tok_path_).parent_path().string());
    dp.barrier("the end of a complete run");
    result.iteration = st_.iteration;
    result.model_dir = model_dir;
    return result;
  }
  if (st_.iteration == 0 && !eval_.empty() && dp.is_main()) {
    result.first_eval = evaluate();
    metrics->append(json{{"iteration", 0}, {"eval", result.first_eval}});
    log_info("held-out greedy accuracy before PPO: ", result.first_eval.dump());
  }

  rollout::EngineOptions eo;
  eo.max_batch = cfg_.rollout.max_batch;
  int64_t longest_prompt = 0;
  for (const auto& p : prompts_)
    longest_prompt = std::max<int64_t>(longest_prompt,
                                       static_cast<int64_t>(tok_->encode(train::render_prompt(tmpl_, p.question), true).size()));
  eo.max_len = std::min<int64_t>(actor_->cfg.max_position_embeddings, longest_prompt + cfg_.rollout.max_new_tokens);
  engine_ = std::make_unique<rollout::Engine>(actor_, tok_.get(), eo);

  train::StopSignals signals;
  ProgressOptions po;
  if (!dp.is_main()) po.out = nullptr;  // rank 0 reports for the job
  po.label = "iteration";
  po.total = tr.iterations;
  po.start = st_.iteration;
  po.plain_every_s = tr.log_every_s;
  Progress progress(po);
  const auto t_session = Clock::now();
  const double elapsed0 = st_.elapsed_s;
  while (st_.iteration < tr.iterations) {
    const int64_t it = st_.iteration;
    const auto t_it = Clock::now();
    json m{{"iteration", it + 1}};
    Experience e = rollout(it, m);
    const bool policy_on = it >= cfg_.critic.warmup_iterations || !critic_;
    update(e, it, policy_on, m);
    if (ref_ && m.contains("kl")) kl_.update(m["kl"].get<double>(), e.mask.size(0));
    ++st_.iteration;
    st_.elapsed_s = elapsed0 + since(t_session);
    m["time_s"] = since(t_it);
    m["elapsed_s"] = st_.elapsed_s;
    m["tokens"] = st_.tokens;
    if (metrics) metrics->append(m);
    const bool last = st_.iteration == tr.iterations;
    if (tr.eval_every > 0 && st_.iteration % tr.eval_every == 0 && !last && !eval_.empty() && dp.is_main()) {
      json ev = evaluate();
      metrics->append(json{{"iteration", st_.iteration}, {"eval", ev}});
      progress.note(str("eval @ iteration ", st_.iteration, ": ", ev.dump()));
      result.last_eval = ev;
    }
    Progress::Fields f{{"reward", str(m["reward"].get<double>())}};
    if (m.contains("kl")) f.emplace_back("kl", str(m["kl"].get<double>()));
    if (m.contains("train_accuracy")) f.emplace_back("acc", str(m["train_accuracy"].get<double>()));
    if (m.contains("clipfrac")) f.emplace_back("clip", str(m["clipfrac"].get<double>()));
    progress.update(st_.iteration, f);
    const bool stop = dp.any(train::StopSignals::stop_requested(), str("the stop check of iteration ", st_.iteration));
    if (last || (tr.save_every > 0 && st_.iteration % tr.save_every == 0) || stop) {
      if (dp.is_main()) {
        save_checkpoint();
        metrics->sync();
      }
      dp.barrier(str("the checkpoint of iteration ", st_.iteration));
    }
    if (stop && !last) {
      progress.note(str("stopping at iteration ", st_.iteration, " on signal ", train::StopSignals::signal(),
                        "; checkpoint saved; run the same command to resume"));
      result.status = PpoStatus::interrupted;
      result.iteration = st_.iteration;
      result.signal = train::StopSignals::signal();
      return result;
    }
  }
  progress.finish();
  engine_.reset();
  if (dp.is_main()) {
    save_policy(model_dir, true);
    if (critic_) model::save_score_model(critic_, (fsys::path(tr.output_dir) / "critic").string(),
                                         fsys::path(tok_path_).parent_path().string());
    if (!eval_.empty()) {
      result.last_eval = evaluate();
      metrics->append(json{{"iteration", st_.iteration}, {"eval", result.last_eval}});
    }
    metrics->sync();
  }
  dp.barrier("the final model");
  result.iteration = st_.iteration;
  result.model_dir = model_dir;
  log_info("PPO: ", st_.iteration, " iterations in ", human_seconds(st_.elapsed_s), "; policy in ", model_dir);
  return result;
}

}  // namespace

PpoResult run_ppo(const PpoConfig& cfg, const std::string& config_yaml, RemoteRewardFn remote) {
  Loop loop(cfg, config_yaml, std::move(remote));
  return loop.run();
}

}  // namespace rleif::ppo
