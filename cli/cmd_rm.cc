// rleif rm: reward models. `train` (IRM / PRM / ORM / pairwise on the shared Trainer, resumable),
// `score` (JSONL in, per-sample and per-step scores out, batched, resumable), `eval` (held-out
// metrics of a trained model on any supported data file), `label-mc` (Monte-Carlo PRM step labels).
#include <iostream>

#include "cli/command.h"
#include "cli/rm_commands.h"
#include "cli/scoring.h"
#include "core/fs.h"
#include "core/log.h"
#include "rm/evaluate.h"
#include "rm/scorer.h"
#include "rm/task.h"

namespace rleif::cli {
namespace {

std::function<int()> setup_train(CLI::App& app) {
  auto cfg = std::make_shared<rm::RmConfig>();
  auto args = std::make_shared<ConfigArgs>();
  args->add_to(app);
  app.footer("Example: rleif rm train --config configs/rm_prm.yaml data.train=runs/evol/prm_steps.jsonl train.output_dir=runs/prm");
  return [=]() {
    if (!resolve_config(*cfg, *args)) return 0;
    train::TrainResult r = rm::run_rm_train(*cfg, dump_options(*cfg));
    if (r.status == train::TrainStatus::interrupted) return 128 + r.signal;
    std::cout << "rm train: " << enum_name(cfg->data.kind) << " model in " << r.model_dir;
    if (!r.last_eval.empty()) std::cout << "; held-out " << r.last_eval.dump();
    std::cout << "\n";
    return 0;
  };
}

struct ScoreArgs {
  std::string model, input, output;
};

std::function<int()> setup_score(CLI::App& app) {
  auto opts = std::make_shared<rm::ScorerOptions>();
  auto a = std::make_shared<ScoreArgs>();
  auto args = std::make_shared<ConfigArgs>();
  app.add_option("--model", a->model, "reward model directory (written by rleif rm train)")->required();
  app.add_option("--input", a->input, "JSONL: {prompt, samples:[{text}]} (rleif generate), {prompt, response}, {prompt, steps} or IRM {instruction}/{candidates}")->required();
  app.add_option("--output", a->output, "JSONL out, one line per input record: {id, scores: [{score, steps?}]}; rerun resumes")->required();
  args->add_to(app);
  app.footer("Example: rleif rm score --model runs/prm/model --input solutions.jsonl --output prm_scores.jsonl aggregation=min");
  return [=]() {
    if (!resolve_config(*opts, *args)) return 0;
    rm::Scorer scorer(a->model, *opts);
    const ScoreFileStats st = score_file(scorer, a->input, a->output);
    std::cout << "rm score: " << st.records << " records scored by a " << enum_name(scorer.kind()) << " model into "
              << a->output << "\n";
    return 0;
  };
}

struct EvalConfig {
  rm::ScorerOptions scorer;
  rm::RmEvalOptions eval;
  rm::RankLossOptions loss;
  rm::PrmFormat format = rm::PrmFormat::auto_;
  bool neutral_positive = true;
  int64_t limit = 0;
  template <class V>
  void visit(V& v) {
    v.section("scorer", scorer, "how the model runs");
    v.section("eval", eval, "metrics");
    v.section("loss", loss, "the IRM / pairwise loss reported alongside (as trained)");
    v.field("format", format, "PRM data format: auto | rleif | math_shepherd | prm800k | trl | prmbench | mr_gsm8k");
    v.field("neutral_positive", neutral_positive, "PRM800K: a neutral rating counts as correct");
    v.field("limit", limit, "evaluate on the first N records (0 = all)");
  }
};

std::function<int()> setup_eval(CLI::App& app) {
  auto cfg = std::make_shared<EvalConfig>();
  auto a = std::make_shared<ScoreArgs>();
  auto args = std::make_shared<ConfigArgs>();
  app.add_option("--model", a->model, "reward model directory (written by rleif rm train)")->required();
  app.add_option("--data", a->input, "held-out data in a format of the model's kind (PRM: also PRMBench, MR-GSM8K)")->required();
  app.add_option("--out", a->output, "also write the metrics JSON here");
  args->add_to(app);
  app.footer("Example: rleif rm eval --model runs/prm/model --data ../shared/data/prm/mr_gsm8k/mr_gsm8k_wrong_solutions_first_error_step.jsonl");
  return [=]() {
    if (!resolve_config(*cfg, *args)) return 0;
    rm::Scorer scorer(a->model, cfg->scorer);
    rm::RmDataOptions d;
    d.kind = scorer.kind();
    d.train = a->input;
    d.format = cfg->format;
    d.neutral_positive = cfg->neutral_positive;
    rm::RmDataset ds = rm::load_rm_dataset(a->input, d, scorer.encoder(), cfg->limit);
    log_info("rm eval: ", ds.summary());
    json m = rm::evaluate_rm(scorer.net(), ds, scorer.device(), cfg->eval, cfg->loss);
    m["data"] = a->input;
    m["kind"] = enum_name(scorer.kind());
    m["truncated"] = ds.encode.truncated;
    m["records"] = ds.read.records;
    m["dropped"] = ds.dropped;
    if (!a->output.empty()) write_file_atomic(a->output, m.dump(2) + "\n");
    std::cout << m.dump(2) << "\n";
    return 0;
  };
}

Command make_command() {
  return Command{
      "rm", "reward models: train (IRM/PRM/ORM/pairwise), score, eval, label-mc (Monte-Carlo PRM step labels)",
      [](CLI::App& app) -> std::function<int()> {
        app.require_subcommand(1);
        auto chosen = std::make_shared<std::function<int()>>();
        auto add = [&](const char* name, const char* help, std::function<int()> (*setup)(CLI::App&)) {
          CLI::App* sub = app.add_subcommand(name, help);
          auto act = setup(*sub);
          sub->callback([chosen, act] { *chosen = act; });
        };
        add("train", "train a reward model (rerun the same command to resume)", setup_train);
        add("score", "score JSONL records with a reward model (batched; rerun resumes)", setup_score);
        add("eval", "held-out metrics of a reward model", setup_eval);
        add("label-mc", "Monte-Carlo step labels for PRM training (Math-Shepherd); rerun resumes", setup_rm_label_mc);
        return [chosen]() { return (*chosen)(); };
      }};
}

RLEIF_COMMAND(rm, make_command());

}  // namespace
}  // namespace rleif::cli
