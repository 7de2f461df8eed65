// Learning-rate schedules against transformers' get_{cosine,linear,constant}_schedule_with_warmup
// (expected values from scripts/fixtures/train_schedule.py), and the min_lr_ratio floor.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "tests/test_util.h"
#include "train/schedule.h"

namespace rleif::train {
namespace {

TEST(Schedule, MatchesTransformers) {
  const std::string path = test::fixtures_dir() + "/train_schedule/schedules.json";
  RLEIF_REQUIRE_PATH(path);
  json all = json::parse(read_file(path));
  ASSERT_EQ(all.size(), 12u);
  for (auto& c : all) {
    ScheduleOptions o;
    o.kind = parse_enum<ScheduleKind>(c["kind"].get<std::string>(), "fixture");
    o.warmup_steps = c["warmup"].get<int64_t>();
    const int64_t total = c["total"].get<int64_t>();
    auto want = c["multipliers"].get<std::vector<double>>();
    for (int64_t s = 0; s <= total; ++s)
      EXPECT_DOUBLE_EQ(lr_multiplier(o, s, total), want[static_cast<size_t>(s)])
          << c["kind"] << " warmup " << o.warmup_steps << " total " << total << " step " << s;
  }
}

TEST(Schedule, WarmupRatioAndFloor) {
  ScheduleOptions o;
  o.warmup_ratio = 0.1;
  EXPECT_EQ(o.warmup_for(95), 10);  // ceil, as transformers' get_warmup_steps
  o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(lr_multiplier(o, 100, 100), 0.1);
  EXPECT_DOUBLE_EQ(lr_multiplier(o, 10, 100), 1.0);
  o.kind = ScheduleKind::linear;
  EXPECT_DOUBLE_EQ(lr_multiplier(o, 55, 100), 0.1 + 0.9 * 0.5);
  o.warmup_ratio = 1.5;
  EXPECT_THROW(o.validate(), Error);
}

}  // namespace
}  // namespace rleif::train
