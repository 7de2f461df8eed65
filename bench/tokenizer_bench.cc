// Tokenizer throughput: rleif::Tokenizer against the Hugging Face `tokenizers` library
// (bench/tokenizer_ref.py, run in the same invocation) on the same tokenizer.json and texts (GSM8K
// train questions and answers by default), single-threaded and on N threads. Prints medians and the
// ratio tokenizers time / rleif time (> 1: rleif is faster).
//
//   build/bench/tokenizer_bench --threads 2 --runs 7
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/jsonl.h"
#include "model/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Runs the Python reference and returns its JSON line.
rleif::json run_reference(const std::string& python, const std::string& script, const std::string& tokenizer,
                          const std::string& data, int threads, int runs) {
  std::string cmd = "'" + python + "' '" + script + "' --tokenizer '" + tokenizer + "' --data '" + data +
                    "' --threads " + std::to_string(threads) + " --runs " + std::to_string(runs);
  std::FILE* p = ::popen(cmd.c_str(), "r");
  RLEIF_CHECK(p, "cannot run ", cmd);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  RLEIF_CHECK(rc == 0 && !out.empty(), "reference failed (exit ", rc, "): ", cmd, "\n", out);
  return rleif::json::parse(out.substr(out.find('{')));
}

struct Timing {
  double load = 0, cold = 0, warm = 0;
  int64_t tokens = 0;
};

Timing time_rleif(const std::string& path, const std::vector<std::string>& texts, int threads, int runs) {
  Timing t;
  auto t0 = Clock::now();
  rleif::Tokenizer tok = rleif::Tokenizer::from_file(path);
  t.load = seconds_since(t0);
  auto pass = [&] {
    t0 = Clock::now();
    int64_t n = 0;
    if (threads == 1) {
      for (const auto& x : texts) n += static_cast<int64_t>(tok.encode(x, false).size());
    } else {
      for (const auto& ids : tok.encode_batch(texts, false, threads)) n += static_cast<int64_t>(ids.size());
    }
    t.tokens = n;
    return seconds_since(t0);
  };
  t.cold = pass();
  std::vector<double> warm;
  for (int r = 0; r < runs; ++r) warm.push_back(pass());
  t.warm = median(warm);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rleif tokenizer vs Hugging Face tokenizers: encode throughput"};
  std::string shared = std::getenv("RLEIF_SHARED") ? std::getenv("RLEIF_SHARED") : "../shared";
  std::string tokenizer = shared + "/models/gpt2-tokenizer/tokenizer.json";
  std::string data = shared + "/data/gsm8k/train.jsonl";
  std::string python = ".venv/bin/python", script = "bench/tokenizer_ref.py";
  int threads = 2, runs = 5;
  app.add_option("--tokenizer", tokenizer, "tokenizer.json to load")->capture_default_str();
  app.add_option("--data", data, "JSONL with question/answer fields")->capture_default_str();
  app.add_option("--threads", threads, "threads for the batch measurement")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--runs", runs, "warm passes per measurement (median reported)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--python", python, "python with tokenizers installed")->capture_default_str();
  app.add_option("--ref", script, "the reference script")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<std::string> texts;
    for (const auto& r : rleif::read_jsonl(data)) {
      texts.push_back(r.at("question").get<std::string>());
      texts.push_back(r.at("answer").get<std::string>());
    }
    std::printf("%zu texts from %s\ntokenizer %s\n\n", texts.size(), data.c_str(), tokenizer.c_str());
    std::printf("%-30s %12s %12s %10s\n", "measurement", "rleif s", "tokenizers s", "ratio");
    std::vector<int> thread_counts = {1};
    if (threads > 1) thread_counts.push_back(threads);
    for (int th : thread_counts) {
      Timing r = time_rleif(tokenizer, texts, th, runs);
      rleif::json ref = run_reference(python, script, tokenizer, data, th, runs);
      double ref_warm = median(ref.at("times_s").get<std::vector<double>>());
      auto row = [](const std::string& name, double a, double b) {
        std::printf("%-30s %12.4f %12.4f %9.2fx\n", name.c_str(), a, b, b / a);
      };
      std::string t = std::to_string(th) + (th == 1 ? " thread" : " threads");
      if (th == 1) row("load tokenizer.json", r.load, ref.at("load_s").get<double>());
      row("first pass (cold cache), " + t, r.cold, ref.at("cold_s").get<double>());
      row("warm pass (median), " + t, r.warm, ref_warm);
      RLEIF_CHECK(r.tokens == ref.at("tokens").get<int64_t>(), "token counts differ: rleif ", r.tokens,
                  ", tokenizers ", ref.at("tokens").get<int64_t>());
    }
    std::printf("\nratio = tokenizers time / rleif time (> 1: rleif faster); same texts, same token count\n");
  } catch (const rleif::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
