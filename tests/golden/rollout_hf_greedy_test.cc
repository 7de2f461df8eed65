// Golden: the engine's greedy continuations equal transformers' model.generate(do_sample=False) on
// the same checkpoint (reference ids written by scripts/fixtures/rollout_models.py).
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "model/hf_io.h"
#include "rollout/engine.h"
#include "tests/test_util.h"

namespace rleif::rollout {
namespace {

TEST(RolloutGolden, GreedyEqualsTransformersGenerate) {
  const std::string dir = test::fixtures_dir() + "/rollout_models/llama";
  RLEIF_REQUIRE_PATH(dir + "/greedy.json");
  torch::set_num_threads(1);
  const json ref = json::parse(read_file(dir + "/greedy.json"));
  auto lm = model::load_causal_lm(dir);
  for (int64_t max_batch : {1, 4}) {
    EngineOptions o;
    o.max_batch = max_batch;
    o.max_len = 64;
    Engine engine(lm, nullptr, o);
    SamplingParams p;
    p.temperature = 0;
    p.ignore_eos = true;
    p.max_new_tokens = ref["max_new_tokens"].get<int64_t>();
    std::vector<Request> reqs;
    for (const auto& pr : ref["prompts"]) reqs.push_back({pr.get<std::vector<int32_t>>(), p});
    auto out = engine.generate(reqs);
    for (size_t i = 0; i < reqs.size(); ++i)
      EXPECT_EQ(out[i].samples[0].tokens, ref["outputs"][i].get<std::vector<int32_t>>())
          << "prompt " << i << " (max_batch " << max_batch << ")";
  }
}

}  // namespace
}  // namespace rleif::rollout
