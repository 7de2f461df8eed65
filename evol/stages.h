// Internal to evol/engine*.cc and evol/*_stage.cc: what the stages share.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/progress.h"
#include "evol/config.h"
#include "evol/prompts.h"
#include "evol/run_dir.h"
#include "evol/scheduler.h"
#include "evol/seeds.h"
#include "evol/teacher.h"

namespace rleif::evol {

struct RunContext {
  const EvolConfig& cfg;
  const Prompts& prompts;
  Teacher& teacher;        // what the stages call (the caching wrapper when the cache is on)
  Teacher& billed;         // the teacher behind the cache: its stats are what this process paid for
  RunDir& dir;
  const std::atomic<bool>* stop;
  int max_active;
  UsageTotals usage_at_start;

  // Usage over every run of the directory: the journal's totals plus this process's.
  UsageTotals usage() const;
  // A progress display for a stage (nothing when output.progress is off).
  std::unique_ptr<Progress> progress(const std::string& label, int64_t total, int64_t start) const;
  Progress::Fields fields(const StageProgress& p) const;
  CompletionParams params(const SamplingOptions& s, int64_t sample_index) const;
};

// Each returns true when the stage is complete, false when stopped early.
bool run_evolve_stage(RunContext& ctx, const std::vector<Seed>& seeds);
bool run_irm_stage(RunContext& ctx, const std::vector<Seed>& seeds);
bool run_prm_stage(RunContext& ctx);
// The shortcut negatives of one solution (its steps, the answer line last) that prm.*_rate ask for, as
// (kind, steps): answer_only (the answer line alone), copied_answer (the answer line alone, stating a
// number of the question), truncated (the first k work steps, then the last one's result stated as
// the answer), drop_step (one work step left out). Each draw is a function of (prm.seed, source id,
// sample). A solution without work before an answer line has none.
std::vector<std::pair<std::string, std::vector<std::string>>> prm_shortcuts(const PrmOptions& o,
                                                                            const std::string& source_id,
                                                                            int64_t sample, const std::string& question,
                                                                            const std::vector<std::string>& steps);

// Records one finished unit in the stage counters.
void count_unit(StageProgress& p, const UnitResult& r);

}  // namespace rleif::evol
