#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "core/dist/dist.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "model/dtype.h"
#include "train/tensor_io.h"

namespace rleif::train {
namespace fsys = std::filesystem;
namespace {

// Every rank must see the same data and model (else the collectives would disagree or hang); then
// rank 0's weights are copied to all, as DistributedDataParallel does at construction.
void start_ranks_alike(dist::Context& dp, int64_t epoch_size, std::vector<torch::Tensor>& params) {
  int64_t numel = 0;
  for (const auto& p : params) numel += p.numel();
  dp.start_alike(str(epoch_size, " micro-batches per epoch and ", params.size(), " parameter tensors (", numel, " values)"),
                 params, "data and model files");
}

}  // namespace

void TrainerOptions::validate() const {
  RLEIF_CHECK(!output_dir.empty(), "train.output_dir is empty; give the run a directory, e.g. train.output_dir=runs/sft");
  RLEIF_CHECK(epochs >= 1 || max_steps > 0, "train.epochs = ", epochs, ": must be >= 1 (or set train.max_steps)");
  RLEIF_CHECK(max_steps >= 0, "train.max_steps = ", max_steps, ": must be >= 0");
  RLEIF_CHECK(batch_size >= 1, "train.batch_size = ", batch_size, ": must be >= 1");
  RLEIF_CHECK(grad_accum >= 1, "train.grad_accum = ", grad_accum, ": must be >= 1");
  RLEIF_CHECK(max_grad_norm >= 0, "train.max_grad_norm = ", max_grad_norm, ": must be >= 0 (0 = no clipping)");
  RLEIF_CHECK(threads >= 0, "train.threads = ", threads, ": must be >= 0 (0 = torch's default)");
  model::check_device_name(device, "train.device");
  RLEIF_CHECK(save_every >= 0, "train.save_every = ", save_every, ": must be >= 0");
  RLEIF_CHECK(keep_last >= 1, "train.keep_last = ", keep_last, ": keep at least one checkpoint");
  RLEIF_CHECK(eval_every >= 0, "train.eval_every = ", eval_every, ": must be >= 0");
  RLEIF_CHECK(log_every_s > 0, "train.log_every_s = ", log_every_s, ": must be > 0");
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1;
  auto next = [&state] {  // splitmix64 (Steele et al. 2014)
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[static_cast<size_t>(i)], p[next() % static_cast<uint64_t>(i + 1)]);
  return p;
}

Trainer::Trainer(TrainerOptions opts, AdamWOptions optim, ScheduleOptions schedule, TrainTask& task, std::string config_yaml)
    : opts_(std::move(opts)),
      optim_opts_(optim),
      sched_(schedule),
      task_(task),
      config_yaml_(std::move(config_yaml)),
      ckpt_(opts_.output_dir, static_cast<int>(opts_.keep_last)) {
  opts_.validate();
  optim_opts_.validate();
  sched_.validate();
}

std::string Trainer::model_dir() const { return (fsys::path(opts_.output_dir) / "model").string(); }
std::string Trainer::metrics_path() const { return (fsys::path(opts_.output_dir) / "metrics.jsonl").string(); }

int64_t Trainer::total_steps() const {
  if (opts_.max_steps > 0) return opts_.max_steps;
  const int64_t per_epoch = (task_.epoch_size() + opts_.grad_accum - 1) / opts_.grad_accum;
  return opts_.epochs * per_epoch;
}

// Drops metrics lines past `step` (they are redone after a resume) and a partial last line.
void Trainer::trim_metrics(int64_t step) const {
  const std::string path = metrics_path();
  if (!path_exists(path)) return;
  std::string text = read_file(path), kept;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a line cut off by a kill
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

void Trainer::resume_from(const std::string& ckpt, TrainState& st) {
  const std::string state_path = (fsys::path(ckpt) / "trainer_state.json").string();
  json j = json::parse(read_file(state_path), nullptr, false);
  RLEIF_CHECK(j.is_object(), state_path, ": not a JSON object; the checkpoint is damaged (delete it to fall back to an older one)");
  const int64_t total = st.total_steps;
  st = TrainState::from_json(j, state_path);
  if (st.total_steps != total)
    log_warn("resuming from ", ckpt, " planned for ", st.total_steps, " steps; this config gives ", total,
             " (the schedule changes; the result will differ from an uninterrupted run)");
  st.total_steps = total;
  const std::string opt_path = (fsys::path(ckpt) / "optimizer.safetensors").string();
  auto opt_state = load_tensors(opt_path);
  optim_->load_state(
      [&](const std::string& k) { auto it = opt_state.find(k); return it == opt_state.end() ? torch::Tensor() : it->second; },
      opt_path);
  const std::string rng_path = (fsys::path(ckpt) / "rng.safetensors").string();
  std::vector<std::pair<std::string, torch::Tensor>> rng;
  for (auto& [k, v] : load_tensors(rng_path)) rng.emplace_back(k, v);
  restore_rng(rng, rng_path);
  const std::string cfg_path = (fsys::path(ckpt) / "config.yaml").string();
  if (path_exists(cfg_path) && read_file(cfg_path) != config_yaml_)
    log_warn("the config differs from the one stored in ", cfg_path, "; resuming with the new one");
}

void Trainer::save_checkpoint(const TrainState& st) {
  ckpt_.save(
      st.step, [&](const std::string& dir) { task_.save_model(dir); },
      [&](const std::string& dir) {
        save_tensors((fsys::path(dir) / "optimizer.safetensors").string(), optim_->state());
        save_tensors((fsys::path(dir) / "rng.safetensors").string(), capture_rng());
        write_file_atomic((fsys::path(dir) / "config.yaml").string(), config_yaml_);
        write_file_atomic((fsys::path(dir) / "trainer_state.json").string(), st.to_json().dump(2) + "\n");
      });
}

TrainResult Trainer::run() {
  configure_threads(static_cast<int>(opts_.threads));
  device_ = model::parse_device(opts_.device, "train.device");
  dist::Context& dp = dist::Context::world(opts_.dist, device_);
  if (dp.distributed()) device_ = dp.device();  // CUDA: cuda:LOCAL_RANK
  RLEIF_CHECK(opts_.grad_accum >= dp.size(), "train.grad_accum = ", opts_.grad_accum, " but ", dp.size(), " ranks run: ",
              "an optimizer step's grad_accum micro-batches are shared among the ranks, so some would idle; set ",
              "train.grad_accum to a multiple of WORLD_SIZE (the global batch is batch_size x grad_accum)");
  if (opts_.grad_accum % dp.size() != 0)
    log_warn("train.grad_accum = ", opts_.grad_accum, " is not a multiple of the ", dp.size(), " ranks; some idle in every step");
  configure_determinism(opts_.deterministic, static_cast<uint64_t>(opts_.seed));
  const auto amp = autocast_dtype(opts_.precision, device_);
  make_dirs(opts_.output_dir);
  if (dp.is_main()) ckpt_.remove_temporaries();
  std::string resume;
  if (opts_.resume) {
    resume = dp.share(dp.is_main() ? ckpt_.latest() : std::string(), "choosing the checkpoint to resume from");
    RLEIF_CHECK(resume.empty() || is_directory(resume), "rank ", dp.rank(), ": rank 0 resumes from ", resume,
                ", which this process cannot see; put train.output_dir on a filesystem all ranks share");
  } else
    RLEIF_CHECK(ckpt_.list().empty(), opts_.output_dir, " already holds checkpoints and train.resume=false; ",
                "choose a new train.output_dir or delete ", ckpt_.dir());

  task_.init_model(resume, device_);
  task_.set_gradient_checkpointing(opts_.gradient_checkpointing);
  optim_ = std::make_unique<AdamW>(decay_groups(task_.module(), optim_opts_.weight_decay), optim_opts_);
  std::vector<torch::Tensor> params;
  for (auto& g : optim_->groups()) params.insert(params.end(), g.params.begin(), g.params.end());
  if (dp.distributed()) start_ranks_alike(dp, task_.epoch_size(), params);

  TrainState st;
  st.total_steps = total_steps();
  const int64_t epoch_size = task_.epoch_size();
  RLEIF_CHECK(epoch_size > 0, "the training data gives no micro-batches; check data.train and train.batch_size");
  if (!resume.empty()) {
    resume_from(resume, st);
    log_info("resuming from ", resume, " at step ", st.step, "/", st.total_steps);
  }
  if (dp.is_main()) trim_metrics(st.step);

  TrainResult result;
  const uint64_t seed = static_cast<uint64_t>(opts_.seed);
  if (st.step >= st.total_steps) {
    log_info("the run in ", opts_.output_dir, " is already complete (", st.step, " steps)");
    if (dp.is_main() && !path_exists((fsys::path(model_dir()) / "config.json").string())) task_.save_final_model(model_dir());
    dp.barrier("the end of a complete run");
    result.step = st.step;
    result.model_dir = model_dir();
    return result;
  }

  std::optional<JsonlAppender> metrics;  // rank 0's
  if (dp.is_main()) metrics.emplace(metrics_path());
  StopSignals signals;
  ProgressOptions po;
  if (!dp.is_main()) po.out = nullptr;  // rank 0 reports for the job
  po.label = "step";
  po.total = st.total_steps;
  po.start = st.step;
  po.plain_every_s = opts_.log_every_s;
  Progress progress(po);
  task_.module().train();
  task_.start_epoch(st.epoch, seed);
  const auto t_session = std::chrono::steady_clock::now();
  const double elapsed0 = st.elapsed_s;
  int64_t session_tokens = 0;

  auto run_eval = [&](int64_t step) {
    torch::NoGradGuard ng;
    task_.module().eval();
    auto rng = capture_rng();  // evaluation must not shift the training RNG stream
    json ev = task_.evaluate();
    restore_rng(rng, "evaluation");
    task_.module().train();
    if (!ev.empty()) {
      metrics->append(json{{"step", step}, {"eval", ev}});
      progress.note(str("eval @ step ", step, ": ", ev.dump()));
      result.last_eval = ev;
    }
  };

  while (st.step < st.total_steps) {
    const auto t_step = std::chrono::steady_clock::now();
    if (st.index >= epoch_size) {
      ++st.epoch;
      st.index = 0;
      task_.start_epoch(st.epoch, seed);
    }
    // An optimizer step never spans two epochs (the last one of an epoch may be shorter), so the
    // position is always (epoch, index) within one fixed order.
    const int64_t n = std::min(opts_.grad_accum, epoch_size - st.index);
    double weight = 0;
    int64_t tokens = 0;
    for (int64_t j = 0; j < n; ++j) {
      MicroBatchInfo info = task_.info(st.index + j);
      weight += info.weight;
      tokens += info.tokens;
    }
    RLEIF_CHECK(weight > 0, "step ", st.step + 1, ": its micro-batches have no loss units (no response tokens?)");
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    json extra = json::object();
    const auto [mine_lo, mine_hi] = dist::shard(n, dp.rank(), dp.size());  // this rank's micro-batches
    for (int64_t j = mine_lo; j < mine_hi; ++j) {
      torch::Tensor l;
      {
        AutocastGuard ag(device_, amp);
        l = task_.loss(st.index + j, extra);
      }
      // Mean over every unit of the optimizer step, so k micro-batches equal one k-times batch.
      (l / weight).backward();
      loss_sum += l.detach().to(torch::kFloat64);
    }
    if (dp.distributed()) {
      json local = extra;
      local["rleif.loss"] = loss_sum.item<double>();
      extra = dp.sum_numbers(local, str("the loss of step ", st.step + 1));
      loss_sum.fill_(extra["rleif.loss"].get<double>());
      extra.erase("rleif.loss");
      dp.all_reduce_gradients(params);
    }
    const double loss = loss_sum.item<double>() / weight;
    RLEIF_CHECK(std::isfinite(loss), "step ", st.step + 1, ": the loss is ", loss,
                "; lower optim.lr or check the data (the last checkpoint is still intact)");
    const double grad_norm = clip_grad_norm(params, opts_.max_grad_norm);
    const double lr = optim_opts_.lr * lr_multiplier(sched_, st.step, st.total_steps);
    optim_->step(lr);
    optim_->zero_grad();
    if (device_.is_cuda()) torch::cuda::synchronize();

    st.index += n;
    ++st.step;
    st.tokens += tokens;
    session_tokens += tokens;
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_step).count();
    const double session_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_session).count();
    st.elapsed_s = elapsed0 + session_s;
    json line{{"step", st.step}, {"epoch", st.epoch}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm},
              {"tokens", st.tokens}, {"tokens_per_s", tokens / std::max(step_s, 1e-9)}, {"elapsed_s", st.elapsed_s}};
    for (auto& [k, v] : extra.items())
      if (v.is_number()) line[k] = v.get<double>() / weight;
    if (metrics) metrics->append(line);
    char loss_s[32];
    std::snprintf(loss_s, sizeof loss_s, "%.4f", loss);
    char lr_s[32];
    std::snprintf(lr_s, sizeof lr_s, "%.2e", lr);
    progress.update(st.step, {{"loss", loss_s}, {"lr", lr_s},
                              {"tok/s", human_count(static_cast<double>(session_tokens) / std::max(session_s, 1e-9))}});

    const bool last = st.step == st.total_steps;
    if (opts_.eval_every > 0 && st.step % opts_.eval_every == 0 && !last && dp.is_main()) run_eval(st.step);
    const bool stop = dp.any(StopSignals::stop_requested(), str("the stop check of step ", st.step));
    if (last || (opts_.save_every > 0 && st.step % opts_.save_every == 0) || stop) {
      if (dp.is_main()) {
        metrics->sync();
        save_checkpoint(st);
      }
      dp.barrier(str("the checkpoint of step ", st.step));
    }
    if (stop && !last) {
      progress.note(str("stopping at step ", st.step, " on signal ", StopSignals::signal(), "; checkpoint saved in ",
                        ckpt_.latest(), "; run the same command to resume"));
      result.status = TrainStatus::interrupted;
      result.step = st.step;
      result.signal = StopSignals::signal();
      return result;
    }
  }
  progress.finish();
  if (dp.is_main()) {
    task_.save_final_model(model_dir());
    run_eval(st.step);
    metrics->sync();
  }
  dp.barrier("the final model");
  result.step = st.step;
  result.model_dir = model_dir();
  log_info("trained ", st.step, " steps (", human_count(static_cast<double>(st.tokens)), " tokens) in ",
           human_seconds(st.elapsed_s), "; model in ", model_dir());
  return result;
}

}  // namespace rleif::train
