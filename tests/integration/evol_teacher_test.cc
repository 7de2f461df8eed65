// OpenAITeacher against a real HTTP server on loopback (tests/evol_fake_server.h), with and without
// injected faults; the response cache; bad input (unreachable URL, missing key, refused key).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "evol/openai_teacher.h"
#include "evol/response_cache.h"
#include "tests/evol_fake_server.h"
#include "tests/test_util.h"

namespace rleif::evol {
namespace {

using test::Fault;
using test::FakeTeacherServer;
using test::FaultPlan;

// Answers "echo: <last message>" so each completion can be matched to its request.
std::string echo(const json& req) { return "echo: " + req["messages"].back()["content"].get<std::string>(); }

Messages ask(const std::string& text) { return {{"system", "You are a helpful assistant."}, {"user", text}}; }

OpenAITeacherOptions options_for(const FakeTeacherServer& s) {
  OpenAITeacherOptions o;
  o.base_url = s.base_url();
  o.model = "fake-model";
  o.api_key_env = "RLEIF_TEST_TEACHER_KEY";
  o.max_in_flight = 16;
  o.timeout_s = 5;
  o.backoff_base_s = 0.01;
  o.backoff_max_s = 0.05;
  return o;
}

struct KeyEnv {
  KeyEnv() { ::setenv("RLEIF_TEST_TEACHER_KEY", "sk-test-secret-123", 1); }
};
const KeyEnv g_key_env;

using Entry = OpenAITeacher::ScheduleEntry;

// Each retry's next attempt was sent no earlier than the delay the retry chose.
void expect_retries_waited(const std::vector<Entry>& sched) {
  std::map<uint64_t, const Entry*> pending;  // request -> its last retry, until the next attempt
  for (const Entry& e : sched) {
    if (e.kind == Entry::retry) {
      pending[e.request] = &e;
    } else if (auto it = pending.find(e.request); it != pending.end()) {
      EXPECT_GE(e.at_s, it->second->at_s + it->second->delay_s - 1e-6) << "request " << e.request;
      pending.erase(it);
    }
  }
  EXPECT_TRUE(pending.empty()) << pending.size() << " retries were never sent";
}

// The token-bucket bound on the recorded sends: any run of consecutive sends i..j costs at most
// one bucket (`burst`) plus what refilled between send i and send j at `per_s`.
void expect_bucket_holds(const std::vector<Entry>& sched, double per_s, double burst, bool tokens) {
  std::vector<const Entry*> sent;
  for (const Entry& e : sched)
    if (e.kind == Entry::sent) sent.push_back(&e);
  for (size_t i = 0; i < sent.size(); ++i) {
    double cost = 0;
    for (size_t j = i; j < sent.size(); ++j) {
      cost += tokens ? std::min(sent[j]->tokens, burst) : 1.0;
      ASSERT_LE(cost, burst + per_s * (sent[j]->at_s - sent[i]->at_s) + 1e-6)
          << "sends " << i << ".." << j << " at " << sent[i]->at_s << " .. " << sent[j]->at_s << " s";
    }
  }
}

TEST(OpenAITeacher, CompletesConcurrentlyAndAccountsUsage) {
  FakeTeacherServer server(echo, {}, /*latency_s=*/0.02);
  OpenAITeacherOptions o = options_for(server);
  o.max_in_flight = 8;
  OpenAITeacher teacher(o);
  EXPECT_EQ(teacher.endpoint(), server.base_url() + "/chat/completions");
  std::vector<std::future<Completion>> fs;
  for (int i = 0; i < 120; ++i) fs.push_back(teacher.complete(ask("q" + std::to_string(i)), {}));
  int64_t pt = 0, ct = 0;
  for (int i = 0; i < 120; ++i) {
    Completion c = fs[static_cast<size_t>(i)].get();
    EXPECT_EQ(c.text, "echo: q" + std::to_string(i));
    EXPECT_EQ(c.finish_reason, "stop");
    EXPECT_EQ(c.attempts, 1);
    pt += c.usage.prompt_tokens;
    ct += c.usage.completion_tokens;
  }
  auto ss = server.stats();
  auto ts = teacher.stats();
  EXPECT_EQ(ss.requests, 120);
  EXPECT_EQ(ss.ok, 120);
  EXPECT_EQ(ts.requests, 120);
  EXPECT_EQ(ts.completed, 120);
  EXPECT_EQ(ts.total_retries(), 0);
  EXPECT_EQ(ts.prompt_tokens, ss.ok_prompt_tokens);
  EXPECT_EQ(ts.completion_tokens, ss.ok_completion_tokens);
  EXPECT_EQ(pt, ts.prompt_tokens);
  EXPECT_EQ(ct, ts.completion_tokens);
  EXPECT_LE(ss.max_concurrent, 8);
  EXPECT_EQ(ss.authorization, (std::set<std::string>{"Bearer sk-test-secret-123"}));
}

TEST(OpenAITeacher, SurvivesEveryFaultAndRetryCountsAddUp) {
  FaultPlan plan;
  plan.rate_limited = 0.06;
  plan.server_error = 0.06;
  plan.slow = 0.03;
  plan.malformed = 0.06;
  plan.truncated = 0.06;
  plan.dropped = 0.06;
  plan.retry_after_s = 1;
  plan.slow_s = 3.0;  // well past the timeout, so a loaded machine cannot turn an ok answer into a timeout
  plan.max_faults_per_request = 3;
  FakeTeacherServer server(echo, plan);
  OpenAITeacherOptions o = options_for(server);
  o.timeout_s = 1.5;
  o.max_retries = 4;
  OpenAITeacher teacher(o);
  teacher.record_schedule();

  const int n = 400;
  std::vector<std::atomic<int>> calls(n);
  std::vector<std::string> texts(n);
  std::atomic<int> done{0}, errors{0};
  for (int i = 0; i < n; ++i) {
    teacher.complete_async(ask("item " + std::to_string(i)), {}, [&, i](CompletionResult r) {
      ++calls[static_cast<size_t>(i)];
      if (r.ok()) texts[static_cast<size_t>(i)] = r.completion.text;
      else ++errors;
      ++done;
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (done < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(done.load(), n);
  EXPECT_EQ(errors.load(), 0);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(calls[static_cast<size_t>(i)].load(), 1) << "item " << i << " done more or less than once";
    EXPECT_EQ(texts[static_cast<size_t>(i)], "echo: item " + std::to_string(i));
  }
  auto ss = server.stats();
  auto ts = teacher.stats();
  for (int f = 1; f < test::kFaultKinds; ++f) EXPECT_GT(ss.faults[f], 0) << "fault kind " << f << " never injected";
  EXPECT_EQ(ss.ok, n);
  EXPECT_EQ(ts.completed, n);
  EXPECT_EQ(ts.failed, 0);
  // Every attempt the server saw was sent by the client, and every fault became exactly one retry.
  EXPECT_EQ(ts.requests, ss.requests);
  int64_t faults = 0;
  for (int f = 1; f < test::kFaultKinds; ++f) faults += ss.faults[f];
  EXPECT_EQ(ts.requests, n + faults);
  EXPECT_EQ(ts.total_retries(), faults);
  auto R = [&](RetryReason r) { return ts.retries[static_cast<int>(r)]; };
  auto F = [&](Fault f) { return ss.faults[static_cast<int>(f)]; };
  EXPECT_EQ(R(RetryReason::rate_limited), F(Fault::rate_limited));
  EXPECT_EQ(R(RetryReason::server_error), F(Fault::server_error));
  EXPECT_EQ(R(RetryReason::timeout), F(Fault::slow));
  EXPECT_EQ(R(RetryReason::malformed), F(Fault::malformed));
  EXPECT_EQ(R(RetryReason::connection), F(Fault::truncated) + F(Fault::dropped));
  EXPECT_EQ(ts.prompt_tokens, ss.ok_prompt_tokens);
  // Retry-After: 1 was honoured: every 429's retry chose the server's delay, and its next attempt
  // went out no earlier (the client's recorded schedule, not wall-clock timing in the test).
  auto sched = teacher.schedule();
  int64_t sent = 0, rate_limited = 0;
  for (const Entry& e : sched) {
    sent += e.kind == Entry::sent;
    if (e.kind != Entry::retry || e.reason != RetryReason::rate_limited) continue;
    ++rate_limited;
    EXPECT_EQ(e.retry_after_s, 1.0) << "request " << e.request;
    EXPECT_EQ(e.delay_s, 1.0) << "request " << e.request;
  }
  EXPECT_EQ(sent, ts.requests);
  EXPECT_EQ(rate_limited, F(Fault::rate_limited));
  expect_retries_waited(sched);
}

TEST(OpenAITeacher, GivesUpWithAClearErrorWhenRetriesRunOut) {
  FaultPlan plan;
  plan.server_error = 1.0;
  plan.max_faults_per_request = 100;
  FakeTeacherServer server(echo, plan);
  OpenAITeacherOptions o = options_for(server);
  o.max_retries = 2;
  OpenAITeacher teacher(o);
  try {
    teacher.complete(ask("x"), {}).get();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("failed after 3 attempts"), std::string::npos) << m;
    EXPECT_NE(m.find("HTTP 500"), std::string::npos) << m;
  }
  EXPECT_EQ(server.stats().requests, 3);
  EXPECT_EQ(teacher.stats().failed, 1);
}

TEST(OpenAITeacher, UnreachableBaseUrlIsAClearError) {
  // A port with nothing listening: bind, read the port, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  OpenAITeacherOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/v1";
  o.api_key_env = "";
  o.max_retries = 2;
  o.backoff_base_s = 0.01;
  o.backoff_max_s = 0.02;
  OpenAITeacher teacher(o);
  try {
    teacher.complete(ask("x"), {}).get();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(o.base_url + "/chat/completions"), std::string::npos) << m;
    EXPECT_NE(m.find("connect"), std::string::npos) << m;
    EXPECT_NE(m.find("teacher.base_url"), std::string::npos) << m;
  }
  EXPECT_EQ(teacher.stats().retries[static_cast<int>(RetryReason::connection)], 2);
}

TEST(OpenAITeacher, MissingKeyVariableAndBadUrlAreRejectedUpFront) {
  OpenAITeacherOptions o;
  o.api_key_env = "RLEIF_TEST_NO_SUCH_KEY_VAR";
  ::unsetenv("RLEIF_TEST_NO_SUCH_KEY_VAR");
  try {
    OpenAITeacher t(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RLEIF_TEST_NO_SUCH_KEY_VAR is not set"), std::string::npos) << e.what();
  }
  o.api_key_env = "";
  o.base_url = "127.0.0.1:8000/v1";
  EXPECT_THROW(OpenAITeacher t(o), Error);
}

TEST(OpenAITeacher, RefusedKeyFailsAtOnceWithoutLeakingIt) {
  FaultPlan plan;
  plan.status_override = 401;  // the body echoes the Authorization header back
  FakeTeacherServer server(echo, plan);
  OpenAITeacher teacher(options_for(server));
  try {
    teacher.complete(ask("x"), {}).get();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("HTTP 401"), std::string::npos) << m;
    EXPECT_NE(m.find("RLEIF_TEST_TEACHER_KEY"), std::string::npos) << m;
    EXPECT_EQ(m.find("sk-test-secret-123"), std::string::npos) << m;
    EXPECT_NE(m.find("[redacted]"), std::string::npos) << m;
  }
  EXPECT_EQ(server.stats().requests, 1);
}

TEST(OpenAITeacher, RequestsPerMinuteLimitHolds) {
  FakeTeacherServer server(echo);
  OpenAITeacherOptions o = options_for(server);
  o.rpm_limit = 1200;  // 20 per second, bursts of 20
  OpenAITeacher teacher(o);
  teacher.record_schedule();
  std::vector<std::future<Completion>> fs;
  for (int i = 0; i < 40; ++i) fs.push_back(teacher.complete(ask(std::to_string(i)), {}));
  for (auto& f : fs) f.get();
  auto sched = teacher.schedule();
  ASSERT_EQ(sched.size(), 40u);
  expect_bucket_holds(sched, 20, 20, /*tokens=*/false);
}

TEST(OpenAITeacher, TokensPerMinuteLimitHolds) {
  FakeTeacherServer server(echo);
  OpenAITeacherOptions o = options_for(server);
  o.tpm_limit = 60000;  // 1000 tokens per second, bursts of 1000
  OpenAITeacher teacher(o);
  CompletionParams p;
  p.max_tokens = 100;  // each request counts about 100 + 8 tokens (max_tokens + prompt estimate)
  teacher.record_schedule();
  std::vector<std::future<Completion>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(teacher.complete(ask(std::to_string(i)), p));
  for (auto& f : fs) f.get();
  auto sched = teacher.schedule();
  ASSERT_EQ(sched.size(), 20u);
  for (const Entry& e : sched) EXPECT_GT(e.tokens, 100.0);
  expect_bucket_holds(sched, 1000, 1000, /*tokens=*/true);
}

TEST(ResponseCache, ReplaysCompletionsAndSurvivesATornLastLine) {
  FakeTeacherServer server(echo);
  std::string dir = test::temp_dir("evol_cache");
  std::string path = dir + "/responses.jsonl";
  OpenAITeacher inner(options_for(server));
  {
    ResponseCache cache(path);
    EXPECT_THROW(ResponseCache second(path), Error) << "two writers on one cache file";
    CachingTeacher t(inner, cache);
    CompletionParams p;
    p.sample_index = 0;
    EXPECT_EQ(t.complete(ask("a"), p).get().text, "echo: a");
    p.sample_index = 1;  // another sample of the same prompt is another entry
    EXPECT_EQ(t.complete(ask("a"), p).get().text, "echo: a");
    EXPECT_EQ(cache.size(), 2u);
    Completion again = t.complete(ask("a"), p).get();
    EXPECT_TRUE(again.cached);
    EXPECT_EQ(server.stats().requests, 2);
    EXPECT_EQ(t.stats().cache_hits, 1);
  }
  // A kill mid-append leaves a partial line: it is dropped, the rest still hits.
  {
    std::string data = read_file(path);
    write_file_atomic(path, data + R"({"key": "0123", "te)");
  }
  ResponseCache cache(path);
  EXPECT_EQ(cache.size(), 2u);
  CachingTeacher t(inner, cache);
  CompletionParams p;
  p.sample_index = 1;
  EXPECT_TRUE(t.complete(ask("a"), p).get().cached);
  EXPECT_EQ(server.stats().requests, 2);
  // The key is not stored anywhere in the cache.
  EXPECT_EQ(read_file(path).find("sk-test-secret-123"), std::string::npos);
  // Keys depend on model, messages, parameters and sample index.
  CompletionParams q;
  std::string k = ResponseCache::key_for("m", ask("a"), q);
  EXPECT_EQ(k.size(), 32u);
  EXPECT_EQ(k, ResponseCache::key_for("m", ask("a"), q));
  EXPECT_NE(k, ResponseCache::key_for("m2", ask("a"), q));
  EXPECT_NE(k, ResponseCache::key_for("m", ask("b"), q));
  q.temperature = 0.5;
  EXPECT_NE(k, ResponseCache::key_for("m", ask("a"), q));
}

}  // namespace
}  // namespace rleif::evol
