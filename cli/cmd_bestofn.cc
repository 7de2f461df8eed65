// rleif bestofn: best-of-n evaluation of sampled solutions and their reward-model scores.
// Samples come from the policy or from a file, scores from reward models or from files, mixed freely:
//   --policy DIR --problems FILE  samples n solutions per problem with the rollout engine into
//                                 OUT/samples.jsonl (cli/generation.h, as `rleif generate`; resumable)
//   --samples FILE                or reads `rleif generate` output: {"id", "prompt", "samples": [{"text"}], "truth"|"answer"}
//   --rm NAME=DIR                 scores the samples with a reward model into OUT/scores_NAME.jsonl
//                                 (cli/scoring.h, as `rleif rm score`; resumable)
//   --scores NAME=FILE            or reads `rleif rm score` output, one line per samples record, same order
//   --data FILE                   problems with their reference answers, joined by id (when samples lack "truth")
//   --out DIR                     writes DIR/bestofn.json and DIR/report.html, and prints a table
// The computation is rm::run_bestofn on in-memory inputs (docs/BESTOFN.md).
#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>

#include "cli/command.h"
#include "cli/generation.h"
#include "cli/scoring.h"
#include "core/answer.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/truth.h"
#include "model/lora_io.h"
#include "rm/bestofn.h"
#include "rm/report.h"
#include "rm/scorer.h"
#include "train/evaluate.h"

namespace rleif::cli {
namespace {

// Checks a NAME=VALUE spec of `flag`; returns the name.
std::string spec_name(const std::string& spec, const char* flag, const char* value, const char* example) {
  const size_t eq = spec.find('=');
  RLEIF_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < spec.size(), "bestofn: ", flag, " '", spec, "' is not NAME=",
              value, "; for example ", flag, " ", example);
  const std::string name = spec.substr(0, eq);
  for (char c : name)
    RLEIF_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.', "bestofn: scorer name '",
                name, "' may hold only letters, digits, '_', '-' and '.'");
  return name;
}

// Generation defaults of bestofn: seeded, the policy's recorded prompt template, any usual prompt field.
GenerationOptions bestofn_generation() {
  GenerationOptions g;
  g.sampling.seed = 0;          // a rerun (or a resumed run) samples the same solutions
  g.prompt_template = "auto";   // as rleif eval: the template rleif sft recorded with the policy
  g.field = "auto";             // GSM8K's "question" as well as "prompt"
  return g;
}

struct BestOfNConfig {
  std::string policy;               // policy model directory: sample the solutions here
  std::string problems;             // problems JSONL to sample (with --policy)
  std::string samples;              // or: rleif generate output
  std::string data;                 // optional problems file with the reference answers
  std::vector<std::string> rm;      // NAME=DIR, one per reward model to run
  std::vector<std::string> scores;  // NAME=FILE, one per reward model scored already
  std::string out;                  // output directory
  std::string title = "Best-of-n evaluation";
  rm::BestOfNOptions bestofn;
  GenerationOptions generate = bestofn_generation();
  rm::ScorerOptions scorer;

  template <class V>
  void visit(V& v) {
    v.field("policy", policy, "policy model directory: sample n solutions per problem of 'problems' with it");
    v.field("problems", problems, "problems JSONL to sample ({\"id\", \"prompt\"|\"question\", \"answer\"}), with 'policy'");
    v.field("samples", samples, "or: JSONL from rleif generate: {\"id\", \"samples\": [{\"text\"}], \"truth\"|\"answer\"}");
    v.field("data", data, "problems JSONL with reference answers, joined by id (load_eval_problems' fields)");
    v.field("rm", rm, "NAME=DIR per reward model to run on the samples (a directory written by rleif rm train)");
    v.field("scores", scores, "NAME=FILE per reward model: rleif rm score output aligned with the samples file");
    v.field("out", out, "output directory for bestofn.json and report.html (and samples.jsonl, scores_NAME.jsonl)");
    v.field("title", title, "report title");
    bestofn.visit(v);  // subsamples, seed, ks, aggregations, sequence_weight at the top level
    v.section("generate", generate, "sampling with 'policy' (rleif generate's options)");
    v.section("scorer", scorer, "how the 'rm' reward models run (rleif rm score's options)");
  }
  void validate() const {
    RLEIF_CHECK(!policy.empty() || !samples.empty(), "bestofn: give the solutions: sample them with --policy DIR "
                "--problems FILE, or read them with --samples FILE");
    RLEIF_CHECK(policy.empty() || samples.empty(), "bestofn: give either --policy (sample the solutions) or --samples "
                "(read them), not both");
    RLEIF_CHECK(policy.empty() == problems.empty(), "bestofn: --policy and --problems go together; ",
                policy.empty() ? "give the policy that samples --problems with --policy DIR"
                               : "give the problems to sample with --problems FILE");
    RLEIF_CHECK(!out.empty(), "bestofn: give an output directory with --out DIR");
    RLEIF_CHECK(samples.empty() || path_exists(samples), "bestofn: --samples ", samples, ": no such file");
    RLEIF_CHECK(problems.empty() || path_exists(problems), "bestofn: --problems ", problems, ": no such file");
    RLEIF_CHECK(policy.empty() || path_exists(policy + "/config.json") || model::is_adapter_dir(policy),
                "bestofn: --policy ", policy,
                ": not a model directory (no config.json, no adapter_config.json); give a Hugging Face model "
                "directory such as runs/sft/model, or a LoRA adapter directory of rleif sft");
    RLEIF_CHECK(data.empty() || path_exists(data), "bestofn: --data ", data, ": no such file");
    std::vector<std::string> names;
    for (const auto& s : rm) {
      names.push_back(spec_name(s, "--rm", "DIR", "--rm prm=runs/prm/model"));
      const std::string dir = s.substr(s.find('=') + 1);
      RLEIF_CHECK(path_exists(dir + "/rleif_rm.json"), "bestofn: --rm ", s, ": ", dir, " is not a reward model (no ",
                  "rleif_rm.json); give the model directory rleif rm train wrote (its OUTPUT_DIR/model)");
    }
    for (const auto& s : scores) {
      names.push_back(spec_name(s, "--scores", "FILE", "--scores prm=prm_scores.jsonl"));
      RLEIF_CHECK(path_exists(s.substr(s.find('=') + 1)), "bestofn: --scores ", s, ": no such file");
    }
    for (size_t i = 0; i < names.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        RLEIF_CHECK(names[i] != names[j], "bestofn: two reward models (--rm, --scores) are named '", names[i],
                    "'; name each once");
    bestofn.validate();
  }
};

std::string id_of(const json& rec, const SourceLoc& loc) {
  RLEIF_CHECK(rec.contains("id"), loc.str(), ": missing field 'id'; every record needs the id rleif generate wrote");
  return rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump();
}


// Reads the samples file into problems; locs[i] is where problem i came from.
void read_samples(const BestOfNConfig& cfg, const std::string& path, rm::BestOfNInputs& in, std::vector<SourceLoc>& locs) {
  std::map<std::string, std::string> truth_by_id;
  if (!cfg.data.empty())
    for (auto& p : train::load_eval_problems(cfg.data)) truth_by_id[p.id] = p.truth;
  std::map<std::string, SourceLoc> seen;
  JsonlReader r(path);
  json rec;
  SourceLoc loc;
  while (r.next(rec, loc)) {
    rm::BonProblem p{id_of(rec, loc), {}};
    auto [it, fresh] = seen.emplace(p.id, loc);
    RLEIF_CHECK(fresh, loc.str(), ": id '", p.id, "' already appeared at ", it->second.str(), "; ids must be unique");
    std::optional<std::string> truth = record_truth(rec, loc);
    if (!cfg.data.empty()) {
      auto t = truth_by_id.find(p.id);
      RLEIF_CHECK(t != truth_by_id.end(), loc.str(), ": id '", p.id, "' is not in --data ", cfg.data,
                  "; give the problems file the samples were generated from");
      RLEIF_CHECK(!truth || answers_match(*truth, t->second), loc.str(), ": the record's reference answer '", *truth,
                  "' differs from '", t->second, "' in ", cfg.data, " for id '", p.id, "'");
      truth = t->second;
    }
    RLEIF_CHECK(truth.has_value(), loc.str(), ": no reference answer; add a 'truth' (or 'answer') field to each "
                "record or pass the problems file with --data FILE");
    RLEIF_CHECK(rec.contains("samples") && rec["samples"].is_array() && !rec["samples"].empty(), loc.str(),
                ": expected a non-empty 'samples' array of {\"text\": ...} (rleif generate's output)");
    for (const json& s : rec["samples"]) {
      RLEIF_CHECK(s.is_object() && s.contains("text") && s["text"].is_string(), loc.str(),
                  ": every entry of 'samples' must be an object with a string 'text', got ", s.dump().substr(0, 80));
      const auto predicted = extract_answer(s["text"].get<std::string>());
      rm::BonSample b;
      b.correct = predicted && answers_match(*predicted, *truth);
      // Grouped by normalised answer; the correctness mark keeps an odd answer whose normal form
      // collides with another's but matches the truth differently in a group of its own.
      if (predicted) b.answer = (b.correct ? "+" : "-") + normalize_answer(*predicted);
      p.samples.push_back(std::move(b));
    }
    in.problems.push_back(std::move(p));
    locs.push_back(loc);
  }
  RLEIF_CHECK(!in.problems.empty(), path, ": no records");
}

// Reads one NAME=FILE score file, aligned record by record with the samples.
rm::BonScorer read_scores(const std::string& spec, const rm::BestOfNInputs& in, const std::vector<SourceLoc>& locs) {
  const size_t eq = spec.find('=');
  rm::BonScorer sc{spec.substr(0, eq), {}};
  const std::string path = spec.substr(eq + 1);
  JsonlReader r(path);
  json rec;
  SourceLoc loc;
  while (r.next(rec, loc)) {
    const size_t i = sc.scores.size();
    RLEIF_CHECK(i < in.problems.size(), loc.str(), ": more records than the ", in.problems.size(), " of ",
                locs[0].path, "; score files hold one line per samples record, in the same order");
    const std::string id = id_of(rec, loc);
    RLEIF_CHECK(id == in.problems[i].id, loc.str(), ": id '", id, "' but record ", i + 1, " of the samples (",
                locs[i].str(), ") has id '", in.problems[i].id,
                "'; score files hold one line per samples record, in the same order");
    RLEIF_CHECK(rec.contains("scores") && rec["scores"].is_array(), loc.str(),
                ": expected a 'scores' array with one {\"score\": x, \"steps\": [...]} per sample");
    const json& arr = rec["scores"];
    RLEIF_CHECK(arr.size() == in.problems[i].samples.size(), loc.str(), ": ", arr.size(), " scores but ",
                locs[i].str(), " has ", in.problems[i].samples.size(), " samples; give one score per sample");
    std::vector<rm::BonScore> row;
    for (const json& x : arr) {
      RLEIF_CHECK(x.is_object(), loc.str(), ": each entry of 'scores' must be an object {\"score\": x}, got ",
                  x.dump().substr(0, 80));
      rm::BonScore s;
      const bool prm = x.contains("steps") && !x["steps"].is_null();  // a PRM's "score" is optional
      if (prm) s.steps = get_field<std::vector<double>>(x, "steps", loc, "an array of numbers (P(correct) per step)");
      if (x.contains("score") || !prm) s.score = get_field<double>(x, "score", loc, "a number");
      row.push_back(std::move(s));
    }
    sc.scores.push_back(std::move(row));
  }
  RLEIF_CHECK(sc.scores.size() == in.problems.size(), path, ": ", sc.scores.size(), " records but ", locs[0].path,
              " has ", in.problems.size(), "; score every samples record (rleif rm score on the same file)");
  return sc;
}

// method  k=1  k=2 ... as percentages, then the paired differences in points (standard error).
void print_table(const rm::BestOfNResult& r) {
  size_t w = 8;
  for (const auto& m : r.methods) w = std::max(w, m.name.size() + 2);
  for (const auto& d : r.paired) w = std::max(w, d.a.size() + d.b.size() + 5);
  std::printf("%-*s", static_cast<int>(w), "method");
  for (int64_t k : r.k) std::printf("%9s", ("k=" + std::to_string(k)).c_str());
  std::printf("\n");
  for (const auto& m : r.methods) {
    std::printf("%-*s", static_cast<int>(w), m.name.c_str());
    for (double v : m.mean) std::printf("%9.1f", 100 * v);
    std::printf("\n");
  }
  if (!r.paired.empty()) {
    std::printf("\n%-*s", static_cast<int>(w), "A - B (se)");
    for (int64_t k : r.k) std::printf("%14s", ("k=" + std::to_string(k)).c_str());
    std::printf("\n");
    for (const auto& d : r.paired) {
      std::printf("%-*s", static_cast<int>(w), (d.a + " - " + d.b).c_str());
      for (size_t i = 0; i < d.diff.size(); ++i) {
        char cell[32];
        std::snprintf(cell, sizeof cell, "%+.1f (%.1f)", 100 * d.diff[i], 100 * d.se[i]);
        std::printf("%14s", cell);
      }
      std::printf("\n");
    }
  }
  std::fflush(stdout);
}

int run(const BestOfNConfig& cfg) {
  make_dirs(cfg.out);
  std::string samples = cfg.samples;
  if (!cfg.policy.empty()) {
    samples = cfg.out + "/samples.jsonl";
    const GenerateFileStats g = generate_file(cfg.policy, cfg.generate, cfg.problems, samples);
    log_info("bestofn: ", g.generated, " problems sampled, ", g.skipped, " already in ", samples);
  }
  rm::BestOfNInputs in;
  std::vector<SourceLoc> locs;
  read_samples(cfg, samples, in, locs);
  std::vector<std::string> score_specs;
  for (const auto& spec : cfg.rm) {
    const size_t eq = spec.find('=');
    const std::string path = cfg.out + "/scores_" + spec.substr(0, eq) + ".jsonl";
    rm::Scorer scorer(spec.substr(eq + 1), cfg.scorer);
    const ScoreFileStats st = score_file(scorer, samples, path, StaleScores::rescore);
    log_info("bestofn: ", spec.substr(0, eq), ": ", st.records - st.kept, " records scored by a ",
             enum_name(scorer.kind()), " model, ", st.kept, " already in ", path);
    score_specs.push_back(spec.substr(0, eq) + "=" + path);
  }
  score_specs.insert(score_specs.end(), cfg.scores.begin(), cfg.scores.end());
  for (const auto& spec : score_specs) in.scorers.push_back(read_scores(spec, in, locs));
  const rm::BestOfNResult r = rm::run_bestofn(in, cfg.bestofn);
  write_file_atomic(cfg.out + "/bestofn.json", r.to_json().dump(2) + "\n");
  write_file_atomic(cfg.out + "/report.html", rm::bestofn_report_html(r, cfg.title));
  log_info("bestofn: ", r.problems, " problems, n = ", r.n, ", ", in.scorers.size(), " scorers, ", r.subsamples,
           " subsets per k; wrote ", cfg.out, "/bestofn.json and ", cfg.out, "/report.html");
  print_table(r);
  return 0;
}

Command make_command() {
  return Command{
      "bestofn",
      "best-of-n evaluation: sample n solutions (or read them), score them with reward models (or read the "
      "scores); pass@k, majority, RM-weighted majority and best-of-k per reward model, with an HTML report",
      [](CLI::App& app) -> std::function<int()> {
        auto cfg = std::make_shared<BestOfNConfig>();
        auto args = std::make_shared<ConfigArgs>();
        args->bind_text(app, "--policy", "policy", "policy model directory: sample the solutions (with --problems)");
        args->bind_text(app, "--problems", "problems", "problems JSONL to sample with --policy (its 'answer' is the reference)");
        args->bind_text(app, "--samples", "samples", "or: JSONL from rleif generate (with 'truth'/'answer', or --data)");
        args->bind_text(app, "--data", "data", "problems JSONL with reference answers, joined by id");
        args->bind_text(app, "--out,--output", "out",
                        "output directory (bestofn.json, report.html, samples.jsonl, scores_NAME.jsonl)");
        args->bind_text(app, "--title", "title", "report title");
        args->bind_list(app, "--rm", "rm", "NAME=DIR: run a reward model on the samples (repeatable)");
        args->bind_list(app, "--scores", "scores", "NAME=FILE: one reward model's scores (repeatable)");
        args->bind(app, "--n", {"generate.sampling.n"}, "samples per problem (with --policy)");
        args->bind(app, "--temperature", {"generate.sampling.temperature"}, "sampling temperature (0 = greedy)");
        args->bind(app, "--max-new-tokens", {"generate.sampling.max_new_tokens"}, "tokens per sample at most");
        args->bind_text(app, "--template", "generate.prompt_template",
                        "prompt template: auto | alpaca | alpaca_cot | chatml | plain | TEXT with {prompt}");
        args->bind(app, "--seed", {"seed", "generate.sampling.seed"},
                   "seed of the samples (with --policy) and of the subsets and tie breaks");
        args->bind(app, "--threads", {"generate.threads", "scorer.threads"},
                   "CPU threads of the policy and the reward models (0 = all)");
        args->bind(app, "--max-batch", {"generate.engine.max_batch"}, "sequences decoded together");
        args->bind(app, "--rm-aggregation", {"scorer.aggregation"},
                   "the 'score' of a PRM in scores_NAME.jsonl: min | prod | last | mean");
        args->bind(app, "--subsamples", {"subsamples"}, "random k-subsets per problem and k (default 200)");
        args->add_to(app);
        return [=]() {
          if (!resolve_config(*cfg, *args)) return 0;
          return run(*cfg);
        };
      }};
}

RLEIF_COMMAND(bestofn, make_command());

}  // namespace
}  // namespace rleif::cli
