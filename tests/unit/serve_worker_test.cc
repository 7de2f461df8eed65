// serve::Worker, the server's engine thread, on a tiny random model: its capacity counts samples
// (prompts x n), not prompts; a job whose submit fails part-way stops its other requests and has
// released every row by the time its client sees the error.
#include <gtest/gtest.h>

#include <memory>

#include "model/causal_lm.h"
#include "model/config.h"
#include "serve/worker.h"

namespace rleif::serve {
namespace {

constexpr int64_t kVocab = 50;

model::CausalLM tiny_lm() {
  auto cfg = model::ModelConfig::from_json(
      json{{"model_type", "llama"}, {"vocab_size", kVocab}, {"hidden_size", 32}, {"intermediate_size", 48},
           {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
           {"max_position_embeddings", 1024}},
      "tiny");
  torch::manual_seed(1);
  model::CausalLM lm(cfg);
  lm->eval();
  return lm;
}

rollout::Request request(int64_t n, int64_t max_new, std::vector<int32_t> prompt = {1, 2, 3}) {
  rollout::Request r;
  r.prompt = std::move(prompt);
  r.params.n = n;
  r.params.max_new_tokens = max_new;
  r.params.ignore_eos = true;
  r.params.seed = 1;
  return r;
}

std::shared_ptr<Job> job_of(std::vector<rollout::Request> requests) {
  auto j = std::make_shared<Job>();
  j->requests = std::move(requests);
  return j;
}

// Waits until the job finished or failed; returns its error ("" on success).
std::string wait_finished(Job& job) {
  std::unique_lock<std::mutex> lk(job.mu);
  job.cv.wait(lk, [&] { return job.finished(); });
  return job.error;
}

struct Fixture {
  model::CausalLM lm = tiny_lm();
  rollout::Engine engine{lm, nullptr, [] {
                           rollout::EngineOptions o;
                           o.max_batch = 4;
                           o.max_len = 1024;
                           return o;
                         }()};
};

TEST(Worker, CapacityCountsSamplesNotPrompts) {
  Fixture f;
  Worker w(f.engine, 4);
  EXPECT_EQ(job_of({request(3, 4), request(3, 4)})->samples(), 6);
  // Two prompts of n = 3 need 6 rows: more than the 4 the worker holds, though only 2 prompts.
  EXPECT_FALSE(w.submit(job_of({request(3, 4), request(3, 4)})));
  EXPECT_EQ(w.in_flight(), 0);
  auto fits = job_of({request(2, 4), request(2, 4)});
  ASSERT_TRUE(w.submit(fits));
  EXPECT_EQ(wait_finished(*fits), "");
  EXPECT_EQ(w.in_flight(), 0) << "a finished job has released its rows";
  ASSERT_EQ(fits->results.size(), 2u);
  for (auto& c : fits->results) EXPECT_EQ(c.samples.size(), 2u);
}

TEST(Worker, AFailedSubmitStopsTheJobsOtherRequests) {
  Fixture f;
  Worker w(f.engine, 8);
  // The first prompt is fine and long-running; the second has a token outside the vocabulary, so
  // the engine refuses it after the first was submitted.
  auto job = job_of({request(1, 1000), request(1, 4, {1, static_cast<int32_t>(kVocab) + 9})});
  ASSERT_TRUE(w.submit(job));
  const std::string error = wait_finished(*job);
  EXPECT_NE(error.find("outside the vocabulary"), std::string::npos) << error;
  EXPECT_EQ(w.in_flight(), 0) << "the job's first request still holds its row after the job failed";
  // The worker and the engine are free: the next job runs at once, with every row.
  auto next = job_of({request(4, 8)});
  ASSERT_TRUE(w.submit(next));
  EXPECT_EQ(wait_finished(*next), "");
  EXPECT_EQ(next->results[0].samples[0].tokens.size(), 8u);
  EXPECT_EQ(w.in_flight(), 0);
}

}  // namespace
}  // namespace rleif::serve
