// rleif bestofn: best-of-n evaluation of sampled solutions and their reward-model scores.
//   --samples FILE     `rleif generate` output: {"id", "prompt", "samples": [{"text", ...}], "truth"|"answer"}
//   --data FILE        problems with their reference answers, joined by id (when samples lack "truth")
//   --scores NAME=FILE `rleif rm score` output, one {"id", "scores": [{"score", "steps"?}, ...]} line per
//                      samples record, in the same order (repeatable: one per reward model)
//   --out DIR          writes DIR/bestofn.json and DIR/report.html, and prints a table
// The computation is rm::run_bestofn on in-memory inputs; this file only reads files (docs/BESTOFN.md).
#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>

#include "cli/command.h"
#include "core/answer.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "rm/bestofn.h"
#include "rm/report.h"
#include "train/evaluate.h"

namespace rleif::cli {
namespace {

struct BestOfNConfig {
  std::string samples;              // rleif generate output
  std::string data;                 // optional problems file with the reference answers
  std::vector<std::string> scores;  // NAME=FILE, one per reward model
  std::string out;                  // output directory
  std::string title = "Best-of-n evaluation";
  rm::BestOfNOptions bestofn;

  template <class V>
  void visit(V& v) {
    v.field("samples", samples, "JSONL from rleif generate: {\"id\", \"samples\": [{\"text\"}], \"truth\"|\"answer\"}");
    v.field("data", data, "problems JSONL with reference answers, joined by id (load_eval_problems' fields)");
    v.field("scores", scores, "NAME=FILE per reward model: rleif rm score output aligned with the samples file");
    v.field("out", out, "output directory for bestofn.json and report.html");
    v.field("title", title, "report title");
    bestofn.visit(v);  // subsamples, seed, ks, aggregations, sequence_weight at the top level
  }
  void validate() const {
    RLEIF_CHECK(!samples.empty(), "bestofn: give the sampled solutions with --samples FILE");
    RLEIF_CHECK(!out.empty(), "bestofn: give an output directory with --out DIR");
    RLEIF_CHECK(path_exists(samples), "bestofn: --samples ", samples, ": no such file");
    RLEIF_CHECK(data.empty() || path_exists(data), "bestofn: --data ", data, ": no such file");
    for (const auto& s : scores) {
      const size_t eq = s.find('=');
      RLEIF_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < s.size(), "bestofn: --scores '", s,
                  "' is not NAME=FILE; for example --scores prm=prm_scores.jsonl");
      const std::string name = s.substr(0, eq);
      for (char c : name)
        RLEIF_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.',
                    "bestofn: scorer name '", name, "' may hold only letters, digits, '_', '-' and '.'");
      RLEIF_CHECK(path_exists(s.substr(eq + 1)), "bestofn: --scores ", s, ": no such file");
    }
    bestofn.validate();
  }
};

std::string id_of(const json& rec, const SourceLoc& loc) {
  RLEIF_CHECK(rec.contains("id"), loc.str(), ": missing field 'id'; every record needs the id rleif generate wrote");
  return rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump();
}


// Reads the samples file into problems; locs[i] is where problem i came from.
void read_samples(const BestOfNConfig& cfg, rm::BestOfNInputs& in, std::vector<SourceLoc>& locs) {
  std::map<std::string, std::string> truth_by_id;
  if (!cfg.data.empty())
    for (auto& p : train::load_eval_problems(cfg.data)) truth_by_id[p.id] = p.truth;
  std::map<std::string, SourceLoc> seen;
  JsonlReader r(cfg.samples);
  json rec;
  SourceLoc loc;
  while (r.next(rec, loc)) {
    rm::BonProblem p{id_of(rec, loc), {}};
    auto [it, fresh] = seen.emplace(p.id, loc);
    RLEIF_CHECK(fresh, loc.str(), ": id '", p.id, "' already appeared at ", it->second.str(), "; ids must be unique");
    std::optional<std::string> truth = rm::record_truth(rec, loc);
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
  RLEIF_CHECK(!in.problems.empty(), cfg.samples, ": no records");
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

// method  k=1  k=2 ... as percentages.
void print_table(const rm::BestOfNResult& r) {
  size_t w = 8;
  for (const auto& m : r.methods) w = std::max(w, m.name.size() + 2);
  std::printf("%-*s", static_cast<int>(w), "method");
  for (int64_t k : r.k) std::printf("%9s", ("k=" + std::to_string(k)).c_str());
  std::printf("\n");
  for (const auto& m : r.methods) {
    std::printf("%-*s", static_cast<int>(w), m.name.c_str());
    for (double v : m.mean) std::printf("%9.1f", 100 * v);
    std::printf("\n");
  }
  std::fflush(stdout);
}

int run(const BestOfNConfig& cfg) {
  rm::BestOfNInputs in;
  std::vector<SourceLoc> locs;
  read_samples(cfg, in, locs);
  for (const auto& spec : cfg.scores) {
    rm::BonScorer sc = read_scores(spec, in, locs);
    for (const auto& other : in.scorers)
      RLEIF_CHECK(other.name != sc.name, "bestofn: two --scores are named '", sc.name, "'; name each once");
    in.scorers.push_back(std::move(sc));
  }
  const rm::BestOfNResult r = rm::run_bestofn(in, cfg.bestofn);
  make_dirs(cfg.out);
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
      "best-of-n evaluation: pass@k, majority, RM-weighted majority and best-of-k per reward model, with an HTML report",
      [](CLI::App& app) -> std::function<int()> {
        auto cfg = std::make_shared<BestOfNConfig>();
        auto args = std::make_shared<ConfigArgs>();
        auto samples = std::make_shared<std::optional<std::string>>();
        auto data = std::make_shared<std::optional<std::string>>();
        auto out = std::make_shared<std::optional<std::string>>();
        auto title = std::make_shared<std::optional<std::string>>();
        auto scores = std::make_shared<std::vector<std::string>>();
        auto subsamples = std::make_shared<std::optional<int64_t>>();
        auto seed = std::make_shared<std::optional<int64_t>>();
        app.add_option("--samples", *samples, "JSONL from rleif generate (with 'truth'/'answer', or --data)");
        app.add_option("--data", *data, "problems JSONL with reference answers, joined by id");
        // One value per occurrence, so trailing key=value overrides are not taken as more score files.
        app.add_option("--scores", *scores, "NAME=FILE: one reward model's scores (repeatable)")->allow_extra_args(false);
        app.add_option("--out", *out, "output directory (bestofn.json, report.html)");
        app.add_option("--title", *title, "report title");
        app.add_option("--subsamples", *subsamples, "random k-subsets per problem and k (default 200)");
        app.add_option("--seed", *seed, "seed of the subsets and tie breaks");
        args->add_to(app);
        return [=]() {
          std::vector<std::string> flags;
          if (subsamples->has_value()) flags.push_back("subsamples=" + std::to_string(**subsamples));
          if (seed->has_value()) flags.push_back("seed=" + std::to_string(**seed));
          // Paths are set directly (not as overrides) so any characters survive.
          if (samples->has_value()) cfg->samples = **samples;
          if (data->has_value()) cfg->data = **data;
          if (out->has_value()) cfg->out = **out;
          if (title->has_value()) cfg->title = **title;
          if (!scores->empty()) cfg->scores = *scores;
          if (!resolve_config(*cfg, *args, flags)) return 0;
          return run(*cfg);
        };
      }};
}

RLEIF_COMMAND(bestofn, make_command());

}  // namespace
}  // namespace rleif::cli
