// Teacher-client throughput against a loopback OpenAI-compatible server with a fixed latency.
//
//   build-evol/bench/evol_teacher_bench [--latency-ms 100] [--seconds 3] [--engine]
//
// The server runs in a child process (tests/evol_fake_server.h), so the CPU time reported is the
// client's alone. For each concurrency (max_in_flight) it sends a warm-up round, then as many
// requests as fit in about --seconds, and prints requests/s, the ratio to one request at a time, and
// client CPU time per request. --engine also times whole evol items (evolve + equality judge +
// answer = 3 calls each) through run_evol at concurrency 32.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/log.h"
#include "evol/engine.h"
#include "evol/openai_teacher.h"
#include "evol/synthetic_teacher.h"
#include "tests/evol_fake_server.h"

using namespace rleif;
using namespace rleif::evol;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Result {
  int concurrency;
  int64_t n;
  double wall, cpu;
};

Result run_teacher(const std::string& url, int concurrency, double latency_s, double seconds) {
  OpenAITeacherOptions o;
  o.base_url = url;
  o.model = "bench";
  o.api_key_env = "";
  o.max_in_flight = concurrency;
  o.timeout_s = 30;
  OpenAITeacher t(o);
  Messages m{{"system", "You are a helpful assistant."},
             {"user", std::string(600, 'x')}};  // about the size of an evolution prompt's payload
  auto batch = [&](int64_t n) {
    std::vector<std::future<Completion>> fs;
    fs.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      CompletionParams p;
      p.sample_index = i;
      fs.push_back(t.complete(m, p));
    }
    for (auto& f : fs) f.get();
  };
  batch(concurrency);  // warm-up: opens the connections
  int64_t n = std::max<int64_t>(concurrency, static_cast<int64_t>(seconds / latency_s * concurrency));
  double c0 = cpu_seconds(), w0 = now_s();
  batch(n);
  return {concurrency, n, now_s() - w0, cpu_seconds() - c0};
}

}  // namespace

int main(int argc, char** argv) {
  double latency_ms = 100, seconds = 3;
  bool engine = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--latency-ms" && i + 1 < argc) latency_ms = std::atof(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--engine") engine = true;
    else {
      std::fprintf(stderr, "usage: %s [--latency-ms 100] [--seconds 3] [--engine]\n", argv[0]);
      return 2;
    }
  }
  set_log_level(LogLevel::warn);
  const double latency = latency_ms / 1000.0;
  SyntheticTeacher synth(SyntheticTeacherOptions{}, Prompts::load(""));
  int port = 0;
  pid_t server = test::fork_fake_server(
      [&](const json& req) {
        if (!engine) return std::string("ok");
        Messages m;
        for (auto& x : req["messages"]) m.push_back({x["role"], x["content"]});
        return synth.respond(m, req.value("seed", int64_t{0}));
      },
      {}, latency, &port);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  std::printf("loopback server latency %.0f ms, ~%.0f s per point\n\n", latency_ms, seconds);
  std::printf("%12s %10s %10s %12s %14s %16s\n", "concurrency", "requests", "wall s", "requests/s", "x sequential",
              "client CPU ms/req");
  double base = 0;
  for (int c : {1, 8, 32, 128}) {
    Result r = run_teacher(url, c, latency, seconds);
    double rate = static_cast<double>(r.n) / r.wall;
    if (c == 1) base = rate;
    std::printf("%12d %10lld %10.2f %12.1f %14.1f %16.3f\n", c, static_cast<long long>(r.n), r.wall, rate, rate / base,
                r.cpu * 1000.0 / static_cast<double>(r.n));
  }
  if (engine) {
    std::string dir = "/tmp/rleif_evol_bench_" + std::to_string(::getpid());
    for (int c : {1, 32}) {
      EvolConfig cfg;
      cfg.seeds.format = SeedFormat::synth;
      cfg.seeds.synth_count = c == 1 ? 20 : 320;
      cfg.evolution.rounds = 1;
      cfg.evolution.variants = 1;
      cfg.responses.include_seeds = false;
      cfg.irm.enabled = false;
      cfg.teacher.kind = TeacherKind::openai;
      cfg.teacher.openai.base_url = url;
      cfg.teacher.openai.model = "bench";
      cfg.teacher.openai.api_key_env = "";
      cfg.teacher.openai.max_in_flight = c;
      cfg.teacher.cache = false;
      cfg.output.dir = dir + "/c" + std::to_string(c);
      cfg.output.progress = false;
      validate_options(cfg);
      double c0 = cpu_seconds(), w0 = now_s();
      EvolRunResult res = run_evol(cfg, nullptr);
      double wall = now_s() - w0, cpu = cpu_seconds() - c0;
      int64_t items = res.summary["evolve"]["done"];
      std::printf("\nengine, concurrency %d: %lld items (%lld requests) in %.2f s = %.1f items/s, client CPU %.2f ms/item\n",
                  c, static_cast<long long>(items), static_cast<long long>(res.summary["usage"]["requests"].get<int64_t>()),
                  wall, static_cast<double>(items) / wall, cpu * 1000.0 / static_cast<double>(items));
    }
    std::system(("rm -rf " + dir).c_str());
  }
  ::kill(server, SIGKILL);
  ::waitpid(server, nullptr, 0);
  return 0;
}
