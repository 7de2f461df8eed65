#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace rleif::train {

void ScheduleOptions::validate() const {
  RLEIF_CHECK(warmup_steps >= 0, "schedule.warmup_steps = ", warmup_steps, ": must be >= 0");
  RLEIF_CHECK(warmup_ratio >= 0 && warmup_ratio < 1, "schedule.warmup_ratio = ", warmup_ratio,
              ": must be in [0, 1)");
  RLEIF_CHECK(min_lr_ratio >= 0 && min_lr_ratio <= 1, "schedule.min_lr_ratio = ", min_lr_ratio,
              ": must be in [0, 1]");
}

int64_t ScheduleOptions::warmup_for(int64_t total_steps) const {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
}

double lr_multiplier(const ScheduleOptions& o, int64_t step, int64_t total_steps) {
  const int64_t warmup = o.warmup_for(total_steps);
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  double decay = 1.0;
  switch (o.kind) {
    case ScheduleKind::cosine:  // transformers' num_cycles = 0.5
      decay = std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
      break;
    case ScheduleKind::linear:  // written as transformers does, for the same rounding
      decay = std::max(0.0, static_cast<double>(total_steps - step) /
                                static_cast<double>(std::max<int64_t>(1, total_steps - warmup)));
      break;
    case ScheduleKind::constant:
      return 1.0;
  }
  return o.min_lr_ratio + (1.0 - o.min_lr_ratio) * decay;
}

}  // namespace rleif::train
