// Learning-rate schedules with linear warmup, as multipliers of the peak rate. They match the
// Hugging Face transformers schedules (get_{cosine,linear,constant}_schedule_with_warmup): the
// multiplier for optimizer step s (0-based) is lambda(s), so the first step of a warmup runs at 0.
#pragma once
#include <cstdint>

#include "core/options.h"

namespace rleif::train {

enum class ScheduleKind { cosine, linear, constant };

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::cosine;  // WizardMath SFT: cosine
  int64_t warmup_steps = 0;    // linear warmup length; 0 = use warmup_ratio
  double warmup_ratio = 0.0;   // warmup as a fraction of the total steps (used when warmup_steps = 0)
  double min_lr_ratio = 0.0;   // floor of the decay as a fraction of the peak (HF: 0)

  template <class V>
  void visit(V& v) {
    v.field("kind", kind, "decay after warmup");
    v.field("warmup_steps", warmup_steps, "linear warmup steps (0: warmup_ratio decides)");
    v.field("warmup_ratio", warmup_ratio, "warmup steps as a fraction of all steps, when warmup_steps is 0");
    v.field("min_lr_ratio", min_lr_ratio, "the decay ends at this fraction of the peak rate");
  }
  void validate() const;
  // Warmup steps for a run of total_steps.
  int64_t warmup_for(int64_t total_steps) const;
};

// Multiplier of the peak rate at optimizer step `step` (0-based) of `total_steps`.
double lr_multiplier(const ScheduleOptions& o, int64_t step, int64_t total_steps);

}  // namespace rleif::train

RLEIF_ENUM_NAMES(rleif::train::ScheduleKind, {rleif::train::ScheduleKind::cosine, "cosine"},
                 {rleif::train::ScheduleKind::linear, "linear"}, {rleif::train::ScheduleKind::constant, "constant"});
