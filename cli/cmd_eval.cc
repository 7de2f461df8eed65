// rleif eval: greedy pass@1 accuracy of a model on math problems (GSM8K JSONL works as it is),
// with per-problem results in a JSONL file; an interrupted evaluation resumes where it stopped.
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/command.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "train/evaluate.h"
#include "train/runtime.h"

namespace rleif::cli {
namespace {
namespace fsys = std::filesystem;

struct EvalConfig {
  std::string model;        // model directory
  std::string data;         // problems JSONL
  std::string output;       // per-problem results; "" = <model>/eval_<data stem>.jsonl
  std::string prompt_template = "auto";
  int64_t max_new_tokens = 512;
  int64_t batch_size = 32;
  int64_t limit = 0;
  int64_t threads = 0;
  std::string device = "auto";
  std::string dtype = "float32";
  bool resume = true;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "model directory (Hugging Face layout)");
    v.field("data", data, "JSONL problems: prompt|question|instruction|problem, and answer (GSM8K as it is)");
    v.field("output", output, "per-problem results JSONL; \"\" = <model>/eval_<data file stem>.jsonl");
    v.field("template", prompt_template,
            "prompt template the model was trained with: auto (the one `rleif sft` recorded in the model "
            "directory, rleif_prompt.json; alpaca, WizardMath's, when there is none) | alpaca | alpaca_cot | "
            "chatml | plain");
    v.field("max_new_tokens", max_new_tokens, "generated tokens per problem at most (WizardMath: 1024)");
    v.field("batch_size", batch_size, "problems decoded together (continuous batching on the rollout engine)");
    v.field("limit", limit, "evaluate only the first N problems (0 = all)");
    v.field("threads", threads, "intra-op CPU threads; 0 = torch's default");
    v.field("device", device, "auto | cpu | cuda | cuda:N");
    v.field("dtype", dtype, "parameter dtype: float32 | bfloat16 | float16");
    v.field("resume", resume, "keep the results already in the output file and evaluate only the rest");
  }
  void validate() const {
    RLEIF_CHECK(!model.empty(), "eval: give the model directory with --model DIR");
    RLEIF_CHECK(!data.empty(), "eval: give the problems with --data FILE");
    RLEIF_CHECK(is_directory(model), "eval: --model ", model, ": no such model directory");
    RLEIF_CHECK(path_exists(data), "eval: --data ", data, ": no such file");
    RLEIF_CHECK(max_new_tokens >= 1 && batch_size >= 1 && limit >= 0 && threads >= 0,
                "eval: max_new_tokens and batch_size must be >= 1, limit and threads >= 0");
    model::check_device_name(device, "eval: device");
    model::parse_torch_dtype(dtype, "eval: dtype");
  }
};

int run(const EvalConfig& cfg) {
  train::configure_threads(static_cast<int>(cfg.threads));
  const torch::Device device = model::parse_device(cfg.device, "eval: device");
  auto m = model::load_causal_lm(cfg.model, {model::parse_torch_dtype(cfg.dtype, "eval: dtype"), device});
  const std::string tok_path = (fsys::path(cfg.model) / "tokenizer.json").string();
  RLEIF_CHECK(path_exists(tok_path), cfg.model, ": no tokenizer.json; copy the tokenizer into the model directory");
  auto tok = Tokenizer::from_file(tok_path);
  auto problems = train::load_eval_problems(cfg.data, cfg.limit);
  const std::string out = cfg.output.empty()
                              ? (fsys::path(cfg.model) / ("eval_" + fsys::path(cfg.data).stem().string() + ".jsonl")).string()
                              : cfg.output;

  // Results already written by an interrupted run (the appender drops a line cut off by a kill).
  train::EvalSummary sum;
  std::set<std::string> done;
  if (cfg.resume && path_exists(out)) {
    { JsonlAppender trim(out); }
    JsonlReader reader(out);
    json row;
    SourceLoc loc;
    const char* fix = " (a results file of rleif eval; pass another --out, or set resume=false to start it over)";
    while (reader.next(row, loc)) {
      const std::string id = get_field<std::string>(row, "id", loc, str("a string", fix).c_str());
      const bool correct = get_field<bool>(row, "correct", loc, str("true or false", fix).c_str());
      if (done.insert(id).second) {
        ++sum.n;
        sum.correct += correct ? 1 : 0;
      }
    }
  } else if (path_exists(out)) {
    write_file_atomic(out, "");
  }
  std::vector<train::EvalProblem> todo;
  for (auto& p : problems)
    if (!done.count(p.id)) todo.push_back(p);
  if (!done.empty()) log_info("eval: ", done.size(), " problems already in ", out, "; evaluating the other ", todo.size());

  train::GreedyEvalOptions go;
  if (cfg.prompt_template == "auto") {
    const auto recorded = train::read_model_template(cfg.model);
    go.prompt_template = recorded.value_or(train::PromptTemplate::alpaca);
    log_info("eval: prompt template ", enum_name(go.prompt_template),
             recorded ? " (recorded by rleif sft in the model directory)" : " (the default; none recorded)");
  } else {
    go.prompt_template = parse_enum<train::PromptTemplate>(cfg.prompt_template, "eval.template");
  }
  go.max_new_tokens = cfg.max_new_tokens;
  go.batch_size = cfg.batch_size;
  JsonlAppender appender(out);
  ProgressOptions po;
  po.label = "problem";
  po.total = static_cast<int64_t>(problems.size());
  po.start = sum.n;
  po.out = stderr;  // stdout carries the summary JSON alone (scripts write it to a file)
  Progress progress(po);
  train::evaluate_greedy(m, tok, todo, go, train::stop_token_ids(tok, m->cfg), [&](const train::EvalRow& r) {
    appender.append(r.to_json());
    ++sum.n;
    sum.correct += r.correct ? 1 : 0;
    char acc[32];
    std::snprintf(acc, sizeof acc, "%.4f", sum.accuracy());
    progress.update(sum.n, {{"accuracy", acc}});
  });
  appender.sync();
  progress.finish();
  json summary{{"model", cfg.model}, {"data", cfg.data}, {"n", sum.n}, {"correct", sum.correct},
               {"accuracy", sum.accuracy()}, {"results", out}};
  std::cout << summary.dump() << "\n";
  return 0;
}

Command make_command() {
  return Command{"eval", "greedy pass@1 accuracy on math problems (The answer is: N / #### N), per-problem JSONL results",
                 [](CLI::App& app) -> std::function<int()> {
                   auto cfg = std::make_shared<EvalConfig>();
                   auto args = std::make_shared<ConfigArgs>();
                   args->bind_text(app, "--model", "model", "model directory (Hugging Face layout)");
                   args->bind_text(app, "--data", "data", "problems JSONL (e.g. ../shared/data/gsm8k/test.jsonl)");
                   args->bind_text(app, "--out", "output", "per-problem results JSONL (default <model>/eval_<stem>.jsonl)");
                   args->bind(app, "--limit", {"limit"}, "evaluate only the first N problems");
                   args->bind(app, "--max-new-tokens", {"max_new_tokens"}, "generated tokens per problem at most");
                   args->bind(app, "--threads", {"threads"}, "CPU threads (0 = torch's default)");
                   args->add_to(app);
                   return [=]() {
                     if (!resolve_config(*cfg, *args)) return 0;
                     return run(*cfg);
                   };
                 }};
}

RLEIF_COMMAND(eval, make_command());

}  // namespace
}  // namespace rleif::cli
