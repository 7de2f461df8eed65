// rleif rm: reward models. `train` (IRM / PRM / ORM / pairwise on the shared Trainer, resumable),
// `score` (JSONL in, per-sample and per-step scores out, batched, resumable), `eval` (held-out
// metrics of a trained model on any supported data file), `label-mc` (Monte-Carlo PRM step labels).
#include <iostream>

#include "cli/command.h"
#include "cli/rm_commands.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
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

// The texts of one input record: (prompt, response) pairs, or PRM steps.
struct RecordItems {
  std::vector<std::pair<std::string, std::string>> texts;
  std::vector<std::pair<std::string, std::vector<std::string>>> steps;
};

std::string prompt_of(const json& rec, const SourceLoc& loc) {
  for (const char* k : {"prompt", "question", "instruction", "problem"})
    if (rec.contains(k)) return get_field<std::string>(rec, k, loc, "a string");
  RLEIF_FAIL(loc.str(), ": needs one of 'prompt', 'question', 'instruction', 'problem'");
}

RecordItems items_of(const json& rec, const SourceLoc& loc, rm::RmKind kind) {
  RecordItems it;
  if (kind == rm::RmKind::irm) {
    if (rec.contains("candidates")) {
      for (auto& c : get_field<std::vector<std::string>>(rec, "candidates", loc, "a list of strings"))
        it.texts.emplace_back(c, "");
    } else {
      it.texts.emplace_back(prompt_of(rec, loc), "");
    }
    return it;
  }
  const std::string prompt = prompt_of(rec, loc);
  if (rec.contains("samples")) {
    RLEIF_CHECK(rec["samples"].is_array(), loc.str(), ": 'samples' must be a list");
    for (auto& s : rec["samples"]) {
      if (s.is_string()) it.texts.emplace_back(prompt, s.get<std::string>());
      else if (s.is_object() && s.contains("text") && s["text"].is_string()) it.texts.emplace_back(prompt, s["text"].get<std::string>());
      else RLEIF_FAIL(loc.str(), ": every entry of 'samples' must be a string or {\"text\": string}");
    }
  } else if (rec.contains("steps") && kind == rm::RmKind::prm) {
    it.steps.emplace_back(prompt, get_field<std::vector<std::string>>(rec, "steps", loc, "a list of strings"));
  } else if (rec.contains("response")) {
    it.texts.emplace_back(prompt, get_field<std::string>(rec, "response", loc, "a string"));
  } else {
    RLEIF_FAIL(loc.str(), ": needs 'samples' (rleif generate output), 'response'", kind == rm::RmKind::prm ? " or 'steps'" : "");
  }
  return it;
}

json score_json(const rm::Score& s) {
  json j{{"score", s.score}};
  if (!s.steps.empty()) j["steps"] = s.steps;
  if (s.truncated) j["truncated"] = true;
  return j;
}

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
    JsonlAppender out(a->output);  // opening cuts a line left partial by a kill; it is redone
    const size_t done = read_jsonl(a->output).size();
    JsonlReader reader(a->input);
    std::vector<json> recs;
    std::vector<SourceLoc> locs;
    json rec;
    SourceLoc loc;
    while (reader.next(rec, loc)) {
      recs.push_back(rec);
      locs.push_back(loc);
    }
    RLEIF_CHECK(done <= recs.size(), a->output, " has ", done, " lines but ", a->input, " only ", recs.size(),
                " records; it belongs to another input (delete it to start over)");
    if (done) log_info("rm score: ", done, " records already in ", a->output, "; continuing");
    ProgressOptions po;
    po.label = "record";
    po.total = static_cast<int64_t>(recs.size());
    po.start = static_cast<int64_t>(done);
    po.out = stderr;
    Progress progress(po);
    const size_t chunk = 64;  // records scored together (their samples share batches)
    for (size_t b = done; b < recs.size(); b += chunk) {
      const size_t e = std::min(recs.size(), b + chunk);
      std::vector<std::pair<std::string, std::string>> texts;
      std::vector<std::pair<std::string, std::vector<std::string>>> steps;
      std::vector<std::pair<size_t, size_t>> spans;  // per record: [first, count) in texts or steps
      std::vector<bool> by_steps;
      for (size_t i = b; i < e; ++i) {
        RecordItems it = items_of(recs[i], locs[i], scorer.kind());
        by_steps.push_back(!it.steps.empty());
        if (!it.steps.empty()) {
          spans.emplace_back(steps.size(), it.steps.size());
          steps.insert(steps.end(), it.steps.begin(), it.steps.end());
        } else {
          spans.emplace_back(texts.size(), it.texts.size());
          texts.insert(texts.end(), it.texts.begin(), it.texts.end());
        }
      }
      std::vector<rm::Score> st = texts.empty() ? std::vector<rm::Score>{} : scorer.score(texts);
      std::vector<rm::Score> ss = steps.empty() ? std::vector<rm::Score>{} : scorer.score_steps(steps);
      for (size_t i = b; i < e; ++i) {
        const auto& [first, count] = spans[i - b];
        const auto& src = by_steps[i - b] ? ss : st;
        json scores = json::array();
        for (size_t k = 0; k < count; ++k) scores.push_back(score_json(src[first + k]));
        json id = recs[i].contains("id") ? recs[i]["id"] : json(std::to_string(locs[i].line));
        out.append(json{{"id", id}, {"scores", scores}});
      }
      progress.update(static_cast<int64_t>(e));
    }
    out.sync();
    progress.finish();
    std::cout << "rm score: " << recs.size() << " records scored by a " << enum_name(scorer.kind()) << " model into "
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
    json m = rm::evaluate_rm(scorer.model(), ds, scorer.device(), cfg->eval, cfg->loss);
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
