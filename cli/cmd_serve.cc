// rleif serve: an OpenAI-compatible HTTP server for a model directory, and reward endpoints for
// reward-model directories (see docs/SERVING.md).
#include <pthread.h>
#include <signal.h>
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include "cli/command.h"
#include "core/log.h"
#include "model/hf_io.h"
#include "serve/chat_template.h"
#include "serve/server.h"

namespace rleif::cli {
namespace {

struct ServeConfig {
  std::string model;              // model directory; "" = reward endpoints only
  std::vector<std::string> reward_models;  // NAME=DIR or DIR, one per reward model
  std::string dtype = "float32";  // parameter dtype
  std::string device = "auto";    // cpu | cuda | auto
  int64_t threads = 0;            // intra-op CPU threads; 0 = all cores
  serve::ServeOptions serve;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "Hugging Face model directory (config.json, *.safetensors, tokenizer.json); empty = none");
    v.field("reward_models", reward_models, "reward models (rleif rm train output) as NAME=DIR or DIR; the first is the default");
    v.field("dtype", dtype, "parameter dtype: float32 | bfloat16 | float16");
    v.field("device", device, "cpu | cuda | auto (cuda when available)");
    v.field("threads", threads, "intra-op CPU threads; 0 = all cores");
    v.section("serve", serve, "HTTP server and engine");
  }
  void validate() const {
    RLEIF_CHECK(!model.empty() || !reward_models.empty(),
                "serve: give a model directory with --model DIR, a reward model with --reward-model DIR, or both");
    RLEIF_CHECK(device == "cpu" || device == "cuda" || device == "auto", "serve: device '", device,
                "' is not one of cpu, cuda, auto");
    RLEIF_CHECK(threads >= 0, "serve: threads must be >= 0");
  }
};

std::string dir_name(std::string d) {
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const size_t s = d.find_last_of('/');
  return s == std::string::npos ? d : d.substr(s + 1);
}

int run(ServeConfig& cfg, const std::string& api_key) {
  // SIGTERM/SIGINT are taken by one thread (sigwait) that starts the drain; every other thread,
  // including LibTorch's and httplib's, inherits the blocked mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a client closing mid-stream is an error return, not a kill

  if (cfg.threads > 0) torch::set_num_threads(static_cast<int>(cfg.threads));
  const bool cuda = cfg.device == "cuda" || (cfg.device == "auto" && torch::cuda::is_available());
  RLEIF_CHECK(!cuda || torch::cuda::is_available(), "serve: --device cuda but no CUDA device is available");
  std::optional<serve::GenerationModel> gen;
  std::string what;  // what the start line says is served
  if (!cfg.model.empty()) {
    model::LoadOptions lo;
    lo.dtype = model::parse_torch_dtype(cfg.dtype, "serve: dtype");
    lo.device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    auto lm = model::load_causal_lm(cfg.model, lo);
    auto tok = Tokenizer::from_file(cfg.model + "/tokenizer.json");
    const std::string tmpl = serve::ChatTemplate::find_in(cfg.model);
    if (tmpl.empty()) log_warn("serve: ", cfg.model, " has no chat template; /v1/chat/completions will answer 400");
    if (cfg.serve.model_name.empty()) cfg.serve.model_name = dir_name(cfg.model);
    gen = serve::GenerationModel{lm, std::move(tok), tmpl};
    what = str("model ", cfg.serve.model_name, ", ", cfg.serve.engine.max_batch, " rows");
  }
  std::vector<serve::RewardModelSpec> rewards;
  for (const auto& r : cfg.reward_models) rewards.push_back(serve::parse_reward_model_spec(r));
  if (!rewards.empty()) {
    std::vector<std::string> names;
    for (const auto& r : rewards) names.push_back(r.name);
    what += str(what.empty() ? "" : ", ", "reward models ", join(names, ", "));
  }
  const std::string host = cfg.serve.host;
  serve::Server server(std::move(gen), rewards, cuda ? "cuda" : "cpu", cfg.serve, api_key);
  const int port = server.bind();
  std::thread([&server, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("serve: ", sig == SIGTERM ? "SIGTERM" : "SIGINT", ": draining (running requests finish, new ones get 503)");
    server.stop();
  }).detach();
  std::cout << "rleif serve: listening on http://" << host << ":" << port << " (" << what << ", "
            << (cuda ? "cuda" : "cpu") << ")" << std::endl;
  server.serve();
  log_info("serve: stopped");
  return 0;
}

Command make_command() {
  return Command{"serve",
                 "serve a model over an OpenAI-compatible HTTP API (completions, chat, streaming) and reward models "
                 "over /get_reward (OpenRLHF) and /v1/rewards",
                 [](CLI::App& app) -> std::function<int()> {
                   auto cfg = std::make_shared<ServeConfig>();
                   auto args = std::make_shared<ConfigArgs>();
                   auto model = std::make_shared<std::optional<std::string>>();
                   auto host = std::make_shared<std::optional<std::string>>();
                   auto port = std::make_shared<std::optional<int64_t>>();
                   auto name = std::make_shared<std::optional<std::string>>();
                   auto key = std::make_shared<std::optional<std::string>>();
                   auto dtype = std::make_shared<std::optional<std::string>>();
                   auto device = std::make_shared<std::optional<std::string>>();
                   auto threads = std::make_shared<std::optional<int64_t>>();
                   auto batch = std::make_shared<std::optional<int64_t>>();
                   auto queue = std::make_shared<std::optional<int64_t>>();
                   auto max_len = std::make_shared<std::optional<int64_t>>();
                   auto reward_models = std::make_shared<std::vector<std::string>>();
                   auto reward_batch = std::make_shared<std::optional<int64_t>>();
                   auto reward_items = std::make_shared<std::optional<int64_t>>();
                   auto aggregation = std::make_shared<std::optional<std::string>>();
                   app.add_option("--model", *model, "model directory (Hugging Face layout)");
                   app.add_option("--host", *host, "address to bind (default 127.0.0.1: this machine only)");
                   app.add_option("--port", *port, "TCP port (0 = any free port; default 8000)");
                   app.add_option("--model-name", *name, "model id clients send (default: the directory's name)");
                   app.add_option("--api-key", *key,
                                  "require 'Authorization: Bearer KEY' (or set RLEIF_API_KEY; never logged)");
                   app.add_option("--dtype", *dtype, "float32 | bfloat16 | float16");
                   app.add_option("--device", *device, "cpu | cuda | auto");
                   app.add_option("--threads", *threads, "CPU threads (0 = all)");
                   app.add_option("--max-batch", *batch, "sequences decoded together");
                   app.add_option("--max-queue", *queue, "requests allowed to wait; beyond that: 503");
                   app.add_option("--max-len", *max_len, "prompt + completion tokens per sequence");
                   app.add_option("--reward-model", *reward_models,
                                  "reward model to serve on /get_reward and /v1/rewards, as DIR or NAME=DIR; repeat "
                                  "for several (requests pick one with \"model\"; default the first)")
                       ->allow_extra_args(false);  // one DIR per flag: key=value overrides may follow
                   app.add_option("--reward-batch", *reward_batch, "reward sequences per forward pass");
                   app.add_option("--reward-max-items", *reward_items, "most texts per reward request");
                   app.add_option("--aggregation", *aggregation, "PRM reward from step scores: min | prod | last | mean");
                   args->add_to(app);
                   return [=]() {
                     std::vector<std::string> flags;
                     auto put = [&](const char* k, const auto& v) {
                       if (v->has_value()) flags.push_back(std::string(k) + "=" + str(**v));
                     };
                     if (model->has_value()) cfg->model = **model;
                     if (!reward_models->empty()) cfg->reward_models = *reward_models;
                     if (host->has_value()) cfg->serve.host = **host;
                     if (name->has_value()) cfg->serve.model_name = **name;
                     put("serve.port", port);
                     put("dtype", dtype);
                     put("device", device);
                     put("threads", threads);
                     put("serve.engine.max_batch", batch);
                     put("serve.max_queue", queue);
                     put("serve.engine.max_len", max_len);
                     put("serve.reward.batch_size", reward_batch);
                     put("serve.reward.max_items", reward_items);
                     put("serve.reward.aggregation", aggregation);
                     if (!resolve_config(*cfg, *args, flags)) return 0;
                     std::string api_key = key->has_value() ? **key : "";
                     if (api_key.empty()) {
                       const char* env = std::getenv("RLEIF_API_KEY");
                       if (env) api_key = env;
                     }
                     return run(*cfg, api_key);
                   };
                 }};
}

RLEIF_COMMAND(serve, make_command());

}  // namespace
}  // namespace rleif::cli
