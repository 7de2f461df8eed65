// The whole-recipe report of scripts/demo (`rleif report`): one self-contained HTML page (inline SVG,
// no scripts; well-formed XML as rm/report.h's pages) from the files the stages leave behind:
//   SFT loss (sft/metrics.jsonl), reward-model training loss (rm/NAME/metrics.jsonl), PPO reward /
//   r_I / r_A / KL / value loss / accuracy per iteration (ppo/metrics.jsonl, one run or several to
//   compare), held-out greedy accuracy by difficulty before and after PPO (`rleif eval --out` rows
//   joined on id with the problems' n_steps), best-of-n curves (`rleif bestofn`'s bestofn.json,
//   drawn by rm::bestofn_report_html) and the stage times (timings.jsonl: {"stage", "seconds"}).
// Plain C++ over files (no LibTorch). Every input is optional; a missing one is left out with a note.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rleif::ppo {

struct RecipeReportInputs {
  std::string title = "RLEIF recipe report";
  std::string sft_metrics;                                     // rleif sft metrics.jsonl
  std::vector<std::pair<std::string, std::string>> rm_metrics;  // NAME, rleif rm train metrics.jsonl
  std::vector<std::pair<std::string, std::string>> ppo_metrics; // NAME, rleif ppo metrics.jsonl (ablations: several)
  std::string data;         // problems with n_steps (rleif data synth's held_out.jsonl)
  std::string eval_before;  // rleif eval --out rows of the SFT policy
  std::string eval_after;   // rleif eval --out rows of the PPO policy
  std::string bestofn;      // rleif bestofn's bestofn.json
  std::string timings;      // {"stage", "seconds"} lines; a stage may appear once per session
  std::vector<std::string> notes;  // shown at the top (e.g. inputs --demo did not find)
};

// Greedy accuracy of one policy on the problems of one difficulty (n_steps; 0 = all problems).
struct DifficultyRow {
  int64_t n_steps = 0;
  int64_t correct_before = 0, n_before = 0;
  int64_t correct_after = 0, n_after = 0;
};

// Joins eval rows {"id", "correct"} with the problems' {"id", "n_steps"} (ids compared as text, so
// 7 and "7" match). Either eval path may be empty. Rows for ids not in `data`, problems without an
// integer n_steps and malformed lines are errors naming file:line. Returns one row per n_steps in
// increasing order, then the total (n_steps = 0).
std::vector<DifficultyRow> accuracy_by_difficulty(const std::string& data, const std::string& eval_before,
                                                  const std::string& eval_after);

// Stage seconds summed over sessions, in first-seen order, with the number of sessions.
struct StageTime {
  std::string stage;
  double seconds = 0;     // the sessions of its latest run
  int64_t sessions = 0;   // lines summed: one per session that ran (or resumed) the latest run
  int64_t earlier_runs = 0;  // complete runs before it (the stage was run again from scratch), not counted
};
std::vector<StageTime> read_timings(const std::string& path);

// The whole page. Throws rleif::Error naming file:line for unreadable or malformed inputs.
std::string recipe_report_html(const RecipeReportInputs& in);

// The inputs of a demo directory's layout (scripts/demo): DIR/sft/metrics.jsonl, DIR/rm/{irm,prm,orm}/
// metrics.jsonl, DIR/ppo/metrics.jsonl, DIR/data/held_out.jsonl, DIR/eval_held_out.jsonl (SFT),
// DIR/eval_ppo.jsonl, DIR/rm/bestofn/bestofn.json, DIR/timings.jsonl; the ones not there are left
// empty with a note.
RecipeReportInputs demo_inputs(const std::string& dir);

}  // namespace rleif::ppo
