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
#include "model/dtype.h"
#include "model/hf_io.h"
#include "serve/chat_template.h"
#include "serve/server.h"

namespace rleif::cli {
namespace {

struct ServeConfig {
  std::string model;              // model directory; "" = reward endpoints only
  std::vector<std::string> reward_models;  // NAME=DIR or DIR, one per reward model
  std::string dtype = "float32";  // parameter dtype
  std::string device = "auto";    // auto | cpu | cuda | cuda:N
  int64_t threads = 0;            // intra-op CPU threads; 0 = all cores
  serve::ServeOptions serve;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "Hugging Face model directory (config.json, *.safetensors, tokenizer.json); empty = none");
    v.field("reward_models", reward_models, "reward models (rleif rm train output) as NAME=DIR or DIR; the first is the default");
    v.field("dtype", dtype, "parameter dtype: float32 | bfloat16 | float16");
    v.field("device", device, "auto | cpu | cuda | cuda:N (auto: cuda when available)");
    v.field("threads", threads, "intra-op CPU threads; 0 = all cores");
    v.section("serve", serve, "HTTP server and engine");
  }
  void validate() const {
    RLEIF_CHECK(!model.empty() || !reward_models.empty(),
                "serve: give a model directory with --model DIR, a reward model with --reward-model DIR, or both");
    model::check_device_name(device, "serve: device");
    model::parse_torch_dtype(dtype, "serve: dtype");
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
  const torch::Device device = model::parse_device(cfg.device, "serve: device");
  std::optional<serve::GenerationModel> gen;
  std::string what;  // what the start line says is served
  if (!cfg.model.empty()) {
    model::LoadOptions lo;
    lo.dtype = model::parse_torch_dtype(cfg.dtype, "serve: dtype");
    lo.device = device;
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
  serve::Server server(std::move(gen), rewards, device.str(), cfg.serve, api_key);
  const int port = server.bind();
  std::thread([&server, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("serve: ", sig == SIGTERM ? "SIGTERM" : "SIGINT", ": draining (running requests finish, new ones get 503)");
    server.stop();
  }).detach();
  std::cout << "rleif serve: listening on http://" << host << ":" << port << " (" << what << ", "
            << device.str() << ")" << std::endl;
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
                   auto key = std::make_shared<std::optional<std::string>>();
                   args->bind_text(app, "--model", "model", "model directory (Hugging Face layout)");
                   args->bind_text(app, "--host", "serve.host", "address to bind (default 127.0.0.1: this machine only)");
                   args->bind(app, "--port", {"serve.port"}, "TCP port (0 = any free port; default 8000)");
                   args->bind_text(app, "--model-name", "serve.model_name",
                                   "model id clients send (default: the directory's name)");
                   // Not a config key: a secret never reaches --print-config or a log.
                   app.add_option("--api-key", *key,
                                  "require 'Authorization: Bearer KEY' (or set RLEIF_API_KEY; never logged)");
                   args->bind(app, "--dtype", {"dtype"}, "float32 | bfloat16 | float16");
                   args->bind(app, "--device", {"device"}, "auto | cpu | cuda | cuda:N");
                   args->bind(app, "--threads", {"threads"}, "CPU threads (0 = all)");
                   args->bind(app, "--max-batch", {"serve.engine.max_batch"}, "sequences decoded together");
                   args->bind(app, "--max-queue", {"serve.max_queue"}, "samples (prompts x n) allowed to wait beyond the engine's rows; beyond that: 503");
                   args->bind(app, "--max-len", {"serve.engine.max_len"}, "prompt + completion tokens per sequence");
                   args->bind_list(app, "--reward-model", "reward_models",
                                   "reward model to serve on /get_reward and /v1/rewards, as DIR or NAME=DIR; repeat "
                                   "for several (requests pick one with \"model\"; default the first)");
                   args->bind(app, "--reward-batch", {"serve.reward.batch_size"}, "reward sequences per forward pass");
                   args->bind(app, "--reward-max-items", {"serve.reward.max_items"}, "most texts per reward request");
                   args->bind(app, "--aggregation", {"serve.reward.aggregation"},
                              "PRM reward from step scores: min | prod | last | mean");
                   args->add_to(app);
                   return [=]() {
                     if (!resolve_config(*cfg, *args)) return 0;
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
