// The `rleif evol` pipeline: evolve seeds for M rounds (K chains per seed), eliminate failed
// evolutions, answer the kept ones, then rank each round's candidates for the IRM and label solution
// steps for the PRM. Outputs (in output.dir; record shapes in docs/EVOL.md):
//   evolved.jsonl    one record per seed answer and per evolution, kept or eliminated with its reason
//   sft.jsonl        {"prompt", "response"} for kept items with a response
//   irm_lists.jsonl  {"seed_id", "round", "candidates", "ranking", ...}
//   prm_steps.jsonl  {"prompt", "steps", "labels", ...}
//   summary.json, journal.jsonl, run.yaml, cache/responses.jsonl
// Records are written in a fixed order (seeds, then round by round, seed by seed, variant by
// variant), and every random choice is a function of (seed, item, round, variant), so a run killed
// at any point and started again produces byte-identical files.
#pragma once
#include <atomic>
#include <string>

#include "core/jsonl.h"
#include "evol/config.h"

namespace rleif::evol {

struct EvolRunResult {
  bool complete = false;  // false: stopped early on request; run again to resume
  json summary;           // what summary.json holds
  std::string message;    // a one-paragraph human summary
};

// Runs (or resumes) every stage in cfg.output.dir. `stop` (may be null) asks for a clean stop: no new
// calls, calls in flight finish, progress is journaled. Throws rleif::Error on bad input, a config
// that differs from the directory's first run, or a request that failed for good.
EvolRunResult run_evol(const EvolConfig& cfg, const std::atomic<bool>* stop);

}  // namespace rleif::evol
