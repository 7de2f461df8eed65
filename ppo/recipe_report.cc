#include "ppo/recipe_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "rm/report.h"

namespace rleif::ppo {
namespace {

using rm::ChartOptions;
using rm::ChartSeries;
using rm::html_escape;

std::string num(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
// "73.2% (366/500)", or "-" without rows.
std::string accuracy_cell(int64_t c, int64_t n) {
  if (!n) return "-";
  return num(100.0 * static_cast<double>(c) / static_cast<double>(n), 1) + "% (" + std::to_string(c) + "/" +
         std::to_string(n) + ")";
}

// Every record of a JSONL file with its location (JsonlReader names path:line for bad lines).
std::vector<std::pair<json, SourceLoc>> records(const std::string& path) {
  RLEIF_CHECK(path_exists(path), path, ": no such file; check the path or leave the flag out");
  std::vector<std::pair<json, SourceLoc>> out;
  JsonlReader r(path);
  json v;
  SourceLoc loc;
  while (r.next(v, loc)) out.emplace_back(std::move(v), loc);
  return out;
}

double number(const json& rec, const char* key, const SourceLoc& loc) {
  return get_field<double>(rec, key, loc, "a number");
}

std::string id_text(const json& rec, const SourceLoc& loc) {
  RLEIF_CHECK(rec.contains("id") && (rec["id"].is_string() || rec["id"].is_number_integer()), loc.str(),
              ": missing 'id' (a string or an integer), got ", rec.contains("id") ? rec["id"].dump() : "nothing",
              "; eval rows and problems are joined on id");
  return rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump();
}

// A training log keyed by step (or iteration): a resumed run may log a step twice; the later line wins.
using Log = std::map<int64_t, json>;

struct TrainLog {
  Log steps;  // records with the training fields
  Log evals;  // {"eval": {...}} records
};

TrainLog read_log(const std::string& path, const char* key, const char* training_field) {
  TrainLog t;
  for (auto& [rec, loc] : records(path)) {
    const int64_t at = get_field<int64_t>(rec, key, loc, "an integer");
    if (rec.contains("eval")) {
      RLEIF_CHECK(rec["eval"].is_object(), loc.str(), ": 'eval' must be an object, got ", rec["eval"].dump().substr(0, 80));
      t.evals[at] = rec["eval"];
    } else {
      number(rec, training_field, loc);  // checks the line is a training record
      t.steps[at] = rec;
    }
  }
  return t;
}

// One series of `field` over a log (records without it are skipped; non-numbers are skipped too:
// a NaN reward is written as null).
ChartSeries series(const std::string& name, const Log& log, const std::string& field) {
  ChartSeries s{name, {}, {}, {}};
  for (const auto& [at, rec] : log)
    if (rec.contains(field) && rec[field].is_number()) {
      s.x.push_back(static_cast<double>(at));
      s.y.push_back(rec[field].get<double>());
    }
  return s;
}

std::string figure(const std::vector<ChartSeries>& all, ChartOptions co) {
  return "<figure>\n" + rm::line_chart_svg(all, co) + "</figure>\n";
}

// Grouped bars: one group per category, one bar per series, y in [0, 1] as percent.
std::string bar_chart_svg(const std::vector<std::string>& categories, const std::vector<std::string>& names,
                          const std::vector<std::vector<double>>& values,  // [series][categories]
                          const std::string& title, const std::string& x_label) {
  const char* const colours[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759"};
  const double W = 760, H = 380, left = 64, right = 160, top = 36, bottom = 52;
  const double pw = W - left - right, ph = H - top - bottom;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"380\" viewBox=\"0 0 760 380\" role=\"img\" "
       "font-family=\"sans-serif\">\n<title>"
    << html_escape(title) << "</title>\n<rect x=\"0\" y=\"0\" width=\"760\" height=\"380\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << num(left + pw / 2, 1) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << html_escape(title)
    << "</text>\n<g font-size=\"11\" fill=\"#333333\">\n";
  for (int t = 0; t <= 5; ++t) {
    const double y = top + ph - ph * t / 5.0;
    o << "<line x1=\"" << left << "\" y1=\"" << num(y, 1) << "\" x2=\"" << left + pw << "\" y2=\"" << num(y, 1)
      << "\" stroke=\"#e5e5e5\"/>\n<text x=\"" << left - 6 << "\" y=\"" << num(y + 4, 1) << "\" text-anchor=\"end\">"
      << t * 20 << "%</text>\n";
  }
  o << "</g>\n";
  const double group = pw / static_cast<double>(std::max<size_t>(categories.size(), 1));
  const double bar = group * 0.8 / static_cast<double>(std::max<size_t>(names.size(), 1));
  for (size_t c = 0; c < categories.size(); ++c) {
    const double gx = left + group * static_cast<double>(c) + group * 0.1;
    for (size_t s = 0; s < names.size(); ++s) {
      const double v = values[s][c];
      if (!std::isfinite(v)) continue;
      const double h = ph * std::clamp(v, 0.0, 1.0), x = gx + bar * static_cast<double>(s);
      o << "<rect x=\"" << num(x, 1) << "\" y=\"" << num(top + ph - h, 1) << "\" width=\"" << num(bar * 0.92, 1)
        << "\" height=\"" << num(h, 1) << "\" fill=\"" << colours[s % 4] << "\"><title>" << html_escape(names[s]) << ", "
        << html_escape(categories[c]) << ": " << num(100 * v, 1) << "%</title></rect>\n";
      o << "<text x=\"" << num(x + bar * 0.46, 1) << "\" y=\"" << num(top + ph - h - 4, 1)
        << "\" text-anchor=\"middle\" font-size=\"10\">" << num(100 * v, 1) << "</text>\n";
    }
    o << "<text x=\"" << num(gx + group * 0.4, 1) << "\" y=\"" << top + ph + 16
      << "\" text-anchor=\"middle\" font-size=\"11\">" << html_escape(categories[c]) << "</text>\n";
  }
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#555555\"/>\n<text x=\"" << num(left + pw / 2, 1) << "\" y=\"" << H - 12
    << "\" text-anchor=\"middle\" font-size=\"13\">" << html_escape(x_label) << "</text>\n<g font-size=\"12\">\n";
  for (size_t s = 0; s < names.size(); ++s) {
    const double y = top + 8 + 18.0 * static_cast<double>(s), x = left + pw + 14;
    o << "<rect x=\"" << num(x, 1) << "\" y=\"" << num(y - 6, 1) << "\" width=\"16\" height=\"12\" fill=\""
      << colours[s % 4] << "\"/>\n<text x=\"" << num(x + 22, 1) << "\" y=\"" << num(y + 4, 1) << "\">"
      << html_escape(names[s]) << "</text>\n";
  }
  o << "</g>\n</svg>\n";
  return o.str();
}

// ---- sections ----

void sft_section(const std::string& path, std::ostringstream& b) {
  const TrainLog t = read_log(path, "step", "loss");
  b << "<h2>SFT</h2>\n<p>" << html_escape(path) << ": " << t.steps.size() << " optimizer steps";
  if (!t.steps.empty()) {
    const json& last = t.steps.rbegin()->second;
    b << ", final loss " << num(last.value("loss", 0.0), 4);
    if (last.contains("elapsed_s") && last["elapsed_s"].is_number())
      b << ", " << num(last["elapsed_s"].get<double>() / 60, 1) << " min of training";
  }
  for (const auto& [step, ev] : t.evals)
    if (ev.contains("accuracy") && ev["accuracy"].is_number())
      b << "; held-out greedy accuracy at step " << step << ": " << num(100 * ev["accuracy"].get<double>(), 1) << "%"
        << (ev.contains("n") ? " (n = " + ev["n"].dump() + ")" : "");
  b << ".</p>\n";
  ChartOptions co;
  co.title = "SFT training loss";
  co.x_label = "optimizer step";
  co.y_label = "cross-entropy loss";
  b << figure({series("train loss", t.steps, "loss")}, co);
}

// "step_auc 0.866, loss 0.417": an evaluation's numbers, 3 decimals (counts as they are).
std::string brief(const json& ev) {
  std::string o;
  for (const auto& [k, v] : ev.items()) {
    if (!v.is_number()) continue;
    o += (o.empty() ? "" : ", ") + k + " " + (v.is_number_integer() ? v.dump() : num(v.get<double>(), 3));
  }
  return o;
}

void rm_section(const std::vector<std::pair<std::string, std::string>>& runs, std::ostringstream& b) {
  b << "<h2>Reward models</h2>\n<table>\n<tr><th>model</th><th>steps</th><th>minutes</th><th>last evaluation</th></tr>\n";
  std::vector<ChartSeries> all;
  for (const auto& [name, path] : runs) {
    const TrainLog t = read_log(path, "step", "loss");
    all.push_back(series(name + " train", t.steps, "loss"));
    Log eval_loss;
    for (const auto& [at, ev] : t.evals) eval_loss[at] = ev;
    all.push_back(series(name + " held-out", eval_loss, "loss"));
    b << "<tr><td>" << html_escape(name) << "</td><td>" << t.steps.size() << "</td><td>"
      << (t.steps.empty() ? "-" : num(t.steps.rbegin()->second.value("elapsed_s", 0.0) / 60, 1)) << "</td><td>"
      << (t.evals.empty() ? "-" : html_escape(brief(t.evals.rbegin()->second))) << "</td></tr>\n";
  }
  b << "</table>\n";
  ChartOptions co;
  co.title = "Reward-model loss";
  co.x_label = "optimizer step";
  co.y_label = "loss";
  b << figure(all, co);
}

void ppo_section(const std::vector<std::pair<std::string, std::string>>& runs, std::ostringstream& b) {
  struct Run {
    std::string name;
    TrainLog log;
  };
  std::vector<Run> rs;
  for (const auto& [name, path] : runs) rs.push_back({name, read_log(path, "iteration", "reward")});
  const bool many = rs.size() > 1;
  auto label = [&](const Run& r, const std::string& what) { return many ? r.name + " " + what : what; };
  b << "<h2>PPO</h2>\n";
  // Time per iteration and where it goes (the trainer's time_*_s fields).
  const char* const phases[] = {"time_rollout_s", "time_reward_s", "time_experience_s", "time_train_s"};
  b << "<table>\n<tr><th>run</th><th>iterations</th><th>s / iteration</th><th>rollout</th><th>reward</th>"
       "<th>experience</th><th>train</th><th>held-out accuracy (first &#8594; last eval)</th></tr>\n";
  for (const auto& r : rs) {
    auto mean = [&](const char* f) {
      double s = 0;
      int64_t n = 0;
      for (const auto& [it, rec] : r.log.steps)
        if (rec.contains(f) && rec[f].is_number()) s += rec[f].get<double>(), ++n;
      return n ? num(s / static_cast<double>(n), 2) : std::string("-");
    };
    b << "<tr><td>" << html_escape(r.name) << "</td><td>" << r.log.steps.size() << "</td><td>" << mean("time_s") << "</td>";
    for (const char* p : phases) b << "<td>" << mean(p) << "</td>";
    std::string acc = "-";
    auto acc_of = [](const json& ev) {
      return ev.contains("accuracy") && ev["accuracy"].is_number() ? num(100 * ev["accuracy"].get<double>(), 1) + "%"
                                                                  : std::string("?");
    };
    if (!r.log.evals.empty())
      acc = acc_of(r.log.evals.begin()->second) + " (iteration " + std::to_string(r.log.evals.begin()->first) +
            ") &#8594; " + acc_of(r.log.evals.rbegin()->second) + " (iteration " +
            std::to_string(r.log.evals.rbegin()->first) + ")";
    b << "<td>" << acc << "</td></tr>\n";
  }
  b << "</table>\n<p>Seconds per iteration, mean over iterations: sampling (rollout), reward models, "
       "reference/critic forward passes (experience) and the PPO updates (train).</p>\n";

  struct Chart {
    const char* title;
    const char* y_label;
    std::vector<const char*> fields;
    bool percent;
  };
  const Chart charts[] = {{"PPO reward: r = r_I * r_A, and its factors", "mean per response", {"reward", "r_I", "r_A"}, false},
                          {"KL to the reference policy", "KL per response", {"kl"}, false},
                          {"Critic value loss", "value loss", {"value_loss"}, false},
                          {"Accuracy of the sampled responses", "accuracy", {"train_accuracy"}, true}};
  for (const auto& c : charts) {
    std::vector<ChartSeries> all;
    for (const auto& r : rs)
      for (const char* f : c.fields) {
        ChartSeries s = series(label(r, f), r.log.steps, f);
        if (!s.x.empty()) all.push_back(std::move(s));
      }
    if (c.percent)  // held-out greedy accuracy at the eval iterations, on the same axis
      for (const auto& r : rs) {
        ChartSeries s = series(label(r, "held-out greedy"), r.log.evals, "accuracy");
        if (!s.x.empty()) all.push_back(std::move(s));
      }
    if (all.empty()) {
      b << "<p>" << html_escape(c.title) << ": not in the metrics (no ";
      for (size_t i = 0; i < c.fields.size(); ++i) b << (i ? ", " : "") << c.fields[i];
      b << " field), left out.</p>\n";
      continue;
    }
    ChartOptions co;
    co.title = c.title;
    co.x_label = "PPO iteration";
    co.y_label = c.y_label;
    co.y_percent = c.percent;
    b << figure(all, co);
  }
}

void difficulty_section(const RecipeReportInputs& in, std::ostringstream& b) {
  b << "<h2>Held-out greedy accuracy by difficulty, before and after PPO</h2>\n";
  if (in.data.empty()) {
    b << "<p>No problems file (--data): accuracy by number of steps left out.</p>\n";
    return;
  }
  const auto rows = accuracy_by_difficulty(in.data, in.eval_before, in.eval_after);
  b << "<p>Problems: " << html_escape(in.data) << "; before: "
    << html_escape(in.eval_before.empty() ? "(none)" : in.eval_before)
    << "; after: " << html_escape(in.eval_after.empty() ? "(none)" : in.eval_after) << ".</p>\n";
  b << "<table>\n<tr><th>steps</th><th>before (SFT)</th><th>after (PPO)</th><th>change (points)</th></tr>\n";
  std::vector<std::string> cats;
  std::vector<std::vector<double>> vals(2);
  for (const auto& r : rows) {
    const std::string name = r.n_steps ? std::to_string(r.n_steps) + "-step" : "all";
    const bool both = r.n_before && r.n_after;
    b << "<tr><td>" << name << "</td><td>" << accuracy_cell(r.correct_before, r.n_before) << "</td><td>"
      << accuracy_cell(r.correct_after, r.n_after) << "</td><td>"
      << (both ? num(100.0 * (static_cast<double>(r.correct_after) / static_cast<double>(r.n_after) -
                              static_cast<double>(r.correct_before) / static_cast<double>(r.n_before)),
                     1)
               : std::string("-"))
      << "</td></tr>\n";
    cats.push_back(name);
    auto frac = [](int64_t c, int64_t n) { return n ? static_cast<double>(c) / static_cast<double>(n) : NAN; };
    vals[0].push_back(frac(r.correct_before, r.n_before));
    vals[1].push_back(frac(r.correct_after, r.n_after));
  }
  b << "</table>\n<figure>\n"
    << bar_chart_svg(cats, {"before (SFT)", "after (PPO)"}, vals, "Held-out greedy accuracy by number of steps",
                     "problem difficulty (reasoning steps)")
    << "</figure>\n";
}

void bestofn_section(const std::string& path, std::ostringstream& b) {
  // rm's own page, its body inlined: the same charts and table as rleif bestofn's report.html.
  const std::string page =
      rm::bestofn_report_html(rm::BestOfNResult::read(path), "Best-of-n on held-out problems (SFT policy)");
  const size_t from = page.find("<body>\n"), to = page.rfind("</body>");
  std::string body = page.substr(from + 7, to - from - 7);
  for (const char* tag : {"<h1>", "</h1>"}) {
    const size_t at = body.find(tag);
    if (at != std::string::npos) body.replace(at, std::char_traits<char>::length(tag), tag[1] == '/' ? "</h2>" : "<h2>");
  }
  b << body << "<p>From " << html_escape(path) << ".</p>\n";
}

void timings_section(const std::string& path, std::ostringstream& b) {
  const auto ts = read_timings(path);
  double total = 0;
  for (const auto& t : ts) total += t.seconds;
  b << "<h2>Where the time goes</h2>\n<table>\n<tr><th>stage</th><th>seconds</th><th>minutes</th><th>share</th>"
       "<th>sessions</th><th>earlier runs</th></tr>\n";
  for (const auto& t : ts)
    b << "<tr><td>" << html_escape(t.stage) << "</td><td>" << num(t.seconds, 0) << "</td><td>" << num(t.seconds / 60, 1)
      << "</td><td>" << (total > 0 ? num(100 * t.seconds / total, 1) : "-") << "%</td><td>" << t.sessions << "</td><td>"
      << t.earlier_runs << "</td></tr>\n";
  b << "<tr><td><b>total</b></td><td>" << num(total, 0) << "</td><td>" << num(total / 60, 1)
    << "</td><td>100%</td><td></td><td></td></tr>\n</table>\n<p>Wall time of each stage's latest run from "
    << html_escape(path)
    << ", summed over the sessions that ran it (a resumed stage adds its own session's time; a skipped one, already "
       "complete, adds nothing). A stage run again from scratch after it completed counts its latest run only; "
       "\"earlier runs\" says how many complete runs came before.</p>\n";
}

}  // namespace

std::vector<DifficultyRow> accuracy_by_difficulty(const std::string& data, const std::string& eval_before,
                                                  const std::string& eval_after) {
  std::map<std::string, int64_t> steps_of;  // id -> n_steps
  for (const auto& [rec, loc] : records(data)) {
    const std::string id = id_text(rec, loc);
    RLEIF_CHECK(rec.contains("n_steps") && rec["n_steps"].is_number_integer() && rec["n_steps"].get<int64_t>() > 0,
                loc.str(), ": expected 'n_steps' (an integer >= 1, the problem's reasoning steps), got ",
                rec.contains("n_steps") ? rec["n_steps"].dump() : "nothing",
                "; give the problems of rleif data synth (its held_out.jsonl)");
    steps_of[id] = rec["n_steps"].get<int64_t>();
  }
  std::map<int64_t, DifficultyRow> by;
  for (const auto& [id, s] : steps_of) by[s].n_steps = s;
  DifficultyRow total;
  auto join = [&](const std::string& path, bool before) {
    if (path.empty()) return;
    for (const auto& [rec, loc] : records(path)) {
      const std::string id = id_text(rec, loc);
      const auto it = steps_of.find(id);
      RLEIF_CHECK(it != steps_of.end(), loc.str(), ": id ", id, " is not in ", data,
                  "; give the problems file this evaluation ran on (--data)");
      const bool ok = get_field<bool>(rec, "correct", loc, "true or false");
      for (DifficultyRow* r : {&by[it->second], &total}) {
        (before ? r->n_before : r->n_after) += 1;
        (before ? r->correct_before : r->correct_after) += ok ? 1 : 0;
      }
    }
  };
  join(eval_before, true);
  join(eval_after, false);
  std::vector<DifficultyRow> out;
  for (const auto& [s, r] : by) out.push_back(r);
  out.push_back(total);
  return out;
}

std::vector<StageTime> read_timings(const std::string& path) {
  std::vector<StageTime> out;
  std::map<std::string, bool> last_complete;  // stage -> whether its previous line ended a run
  for (const auto& [rec, loc] : records(path)) {
    const auto stage = get_field<std::string>(rec, "stage", loc, "a stage name");
    const double s = number(rec, "seconds", loc);
    RLEIF_CHECK(std::isfinite(s) && s >= 0, loc.str(), ": 'seconds' must be >= 0, got ", s);
    bool complete = true;  // lines written before the field existed count as complete runs
    if (rec.contains("complete")) complete = get_field<bool>(rec, "complete", loc, "true or false");
    auto it = std::find_if(out.begin(), out.end(), [&](const StageTime& t) { return t.stage == stage; });
    if (it == out.end()) it = out.insert(out.end(), StageTime{stage, 0, 0, 0});
    if (last_complete[stage]) {  // this line starts a new run of a stage that had completed
      it->earlier_runs += 1;
      it->seconds = 0;
      it->sessions = 0;
    }
    it->seconds += s;
    it->sessions += 1;
    last_complete[stage] = complete;
  }
  return out;
}

std::string recipe_report_html(const RecipeReportInputs& in) {
  std::ostringstream b;
  b << "<h1>" << html_escape(in.title) << "</h1>\n<p>WizardMath's RLEIF recipe on this run: SFT, reward models "
       "(IRM, PRM, ORM), PPO with r = r_I * r_A, held-out evaluation and best-of-n reranking.</p>\n";
  std::vector<std::string> notes = in.notes;
  auto missing = [&](const std::string& what) {  // unless demo_inputs already said which file it did not find
    const std::string label = what.substr(0, what.find(" ("));
    for (const auto& n : notes)
      if (n.rfind(label, 0) == 0) return;
    notes.push_back(what + ": not given");
  };
  if (!in.timings.empty()) timings_section(in.timings, b);
  else missing("stage times (--timings)");
  if (!in.sft_metrics.empty()) sft_section(in.sft_metrics, b);
  else missing("SFT loss (--sft-metrics)");
  if (!in.rm_metrics.empty()) rm_section(in.rm_metrics, b);
  else missing("reward-model loss (--rm-metrics)");
  if (!in.ppo_metrics.empty()) ppo_section(in.ppo_metrics, b);
  else missing("PPO curves (--ppo-metrics)");
  if (in.eval_before.empty() && in.eval_after.empty()) missing("held-out accuracy (--eval-before, --eval-after)");
  else difficulty_section(in, b);
  if (!in.bestofn.empty()) bestofn_section(in.bestofn, b);
  else missing("best-of-n curves (--bestofn)");
  std::string head;
  if (!notes.empty()) {
    head = "<div class=\"notes\"><p>Left out:</p>\n<ul>\n";
    for (const auto& n : notes) head += "<li>" + html_escape(n) + "</li>\n";
    head += "</ul></div>\n";
  }
  std::string body = b.str();
  const size_t after_intro = body.find("</p>\n") + 5;  // notes right below the introduction
  body.insert(after_intro, head);
  return rm::html_page(in.title, body);
}

RecipeReportInputs demo_inputs(const std::string& dir) {
  RecipeReportInputs in;
  in.title = "RLEIF recipe report: " + dir;
  auto take = [&](std::string& field, const std::string& rel, const char* what) {
    const std::string p = dir + "/" + rel;
    if (path_exists(p)) field = p;
    else in.notes.push_back(std::string(what) + ": " + p + " not found");
  };
  take(in.timings, "timings.jsonl", "stage times");
  take(in.sft_metrics, "sft/metrics.jsonl", "SFT loss");
  for (const char* k : {"irm", "prm", "orm"}) {
    std::string p;
    take(p, std::string("rm/") + k + "/metrics.jsonl", "reward-model loss");
    if (!p.empty()) in.rm_metrics.emplace_back(k, p);
  }
  std::string ppo;
  take(ppo, "ppo/metrics.jsonl", "PPO curves");
  if (!ppo.empty()) in.ppo_metrics.emplace_back("ppo", ppo);
  take(in.data, "data/held_out.jsonl", "problems with n_steps");
  take(in.eval_before, "eval_held_out.jsonl", "held-out accuracy before PPO (SFT policy)");
  take(in.eval_after, "eval_ppo.jsonl", "held-out accuracy after PPO");
  take(in.bestofn, "rm/bestofn/bestofn.json", "best-of-n curves");
  return in;
}

}  // namespace rleif::ppo
