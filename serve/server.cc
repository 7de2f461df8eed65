#include "serve/server.h"

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "core/log.h"
#include "serve/chat_template.h"
#include "serve/openai_api.h"
#include "serve/worker.h"

namespace rleif::serve {

void ServeOptions::validate() const {
  RLEIF_CHECK(port >= 0 && port <= 65535, "serve.port is ", port, "; use 0-65535");
  RLEIF_CHECK(max_queue >= 0, "serve.max_queue is ", max_queue, "; use 0 or more");
  RLEIF_CHECK(max_request_bytes >= 1024, "serve.max_request_bytes is ", max_request_bytes, "; allow at least 1024");
  RLEIF_CHECK(http_threads >= 1, "serve.http_threads is ", http_threads, "; use at least 1");
  RLEIF_CHECK(default_max_tokens >= 1, "serve.default_max_tokens is ", default_max_tokens, "; use at least 1");
  RLEIF_CHECK(max_n >= 1 && max_prompts >= 1, "serve.max_n and serve.max_prompts must be at least 1");
}

struct Server::Impl {
  Impl(std::optional<GenerationModel> gen, const std::vector<RewardModelSpec>& reward_models,
       const std::string& reward_device, ServeOptions o, std::string key)
      : opts(std::move(o)), api_key(std::move(key)), created(static_cast<int64_t>(std::time(nullptr))) {
    RLEIF_CHECK(gen || !reward_models.empty(), "serve: nothing to serve; give --model DIR, --reward-model DIR or both");
    if (gen) {
      tokenizer.emplace(std::move(gen->tokenizer));
      engine = std::make_unique<rollout::Engine>(std::move(gen->lm), &*tokenizer, opts.engine);
      worker = std::make_unique<Worker>(*engine, opts.engine.max_batch + opts.max_queue);
      if (!gen->chat_template.empty()) chat = std::make_unique<ChatTemplate>(gen->chat_template, "chat template");
    }
    if (!reward_models.empty()) rewards = std::make_unique<RewardService>(reward_models, opts.reward, reward_device);
    limits.model_name = opts.model_name;
    limits.max_n = opts.max_n;
    limits.max_prompts = opts.max_prompts;
    limits.default_max_tokens = opts.default_max_tokens;
    std::random_device rd;
    id_prefix = str(std::hex, rd(), "-");
    routes();
  }

  void routes();
  void post(const httplib::Request& req, httplib::Response& res, Endpoint ep);
  void post_reward(const httplib::Request& req, httplib::Response& res, bool openrlhf);
  std::shared_ptr<void> track();  // counts a request as in progress until the pointer is dropped
  std::shared_ptr<Job> make_job(const ApiRequest& api);
  void stream(httplib::Response& res, std::shared_ptr<Job> job, std::shared_ptr<ApiRequest> api, ResponseMeta meta,
              std::shared_ptr<void> in_progress);

  static void reply_error(httplib::Response& res, int status, const std::string& msg, const std::string& type,
                          const std::string& param = "", const std::string& code = "") {
    res.status = status;
    // A message may quote the client's bytes (a JSON parse error does), which need not be UTF-8:
    // they become U+FFFD rather than making dump() throw and the client's 4xx a 500.
    res.set_content(error_body(msg, type, param, code).dump(-1, ' ', false, json::error_handler_t::replace),
                    "application/json");
  }

  ServeOptions opts;
  std::optional<Tokenizer> tokenizer;        // these three: only with a generation model
  std::unique_ptr<rollout::Engine> engine;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<RewardService> rewards;    // only with reward models
  std::unique_ptr<ChatTemplate> chat;
  ApiLimits limits;
  std::string api_key;
  int64_t created;
  std::string id_prefix;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> draining{false};
  std::mutex active_mu;
  std::condition_variable active_cv;
  int64_t active = 0;  // requests in progress (a stream until its last byte)
  httplib::Server http;
  int port = -1;
};

namespace {
bool same_secret(const std::string& a, const std::string& b) {  // constant time in the key's length
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}
}  // namespace

void Server::Impl::routes() {
  http.new_task_queue = [n = opts.http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  http.set_payload_max_length(static_cast<size_t>(opts.max_request_bytes));
  http.set_keep_alive_timeout(2);  // an idle keep-alive connection delays a drain by at most this
  http.set_read_timeout(30);
  http.set_write_timeout(30);
  // The access log: httplib calls the logger on the connection's thread once the response (a whole
  // stream included) is written; the start time comes from the pre-routing handler on that thread.
  static thread_local std::chrono::steady_clock::time_point request_start;
  if (opts.access_log)
    http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      char ms[32] = "-";  // a request refused before routing (413, a bad request line) has no start
      if (request_start != std::chrono::steady_clock::time_point{})
        std::snprintf(ms, sizeof ms, "%.1f",
                      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request_start).count());
      request_start = {};
      std::fprintf(stderr, "rleif serve: %s %s %s %d %s ms\n", req.remote_addr.c_str(), req.method.c_str(),
                   req.path.c_str(), res.status, ms);
    });
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_start = std::chrono::steady_clock::now();
    const bool guarded = req.path.rfind("/v1/", 0) == 0 || req.path == "/get_reward";
    if (api_key.empty() || !guarded) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0 && same_secret(auth.substr(7), api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    reply_error(res, 401, "Incorrect or missing API key; send 'Authorization: Bearer <key>'", "invalid_request_error", "",
                "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  // httplib's own errors (unknown route, 413 body too large, bad request line) get an OpenAI body too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string msg = res.status == 404   ? "Unknown route " + req.method + " " + req.path
                            : res.status == 413 ? std::string("The request body is larger than the server accepts")
                            : res.status == 405 ? std::string("Method not allowed")
                                                : std::string("Bad request");
    reply_error(res, res.status, msg, "invalid_request_error");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  // Every served model: the generation model first, then the reward models ("type": "reward").
  auto model_cards = [this] {
    std::vector<json> cards;
    if (engine)
      cards.push_back(json{{"id", limits.model_name}, {"object", "model"}, {"created", created}, {"owned_by", "rleif"},
                           {"max_model_len", engine->max_len()}});
    if (rewards)
      for (auto& c : rewards->model_cards(created)) cards.push_back(std::move(c));
    return cards;
  };
  http.Get("/v1/models", [model_cards](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"object", "list"}, {"data", model_cards()}}.dump(), "application/json");
  });
  http.Get(R"(/v1/models/(.+))", [model_cards](const httplib::Request& req, httplib::Response& res) {
    for (auto& c : model_cards())
      if (c["id"] == std::string(req.matches[1])) return res.set_content(c.dump(), "application/json");
    reply_error(res, 404, "The model '" + std::string(req.matches[1]) + "' does not exist", "invalid_request_error",
                "model", "model_not_found");
  });
  http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { post(q, r, Endpoint::completions); });
  http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { post(q, r, Endpoint::chat); });
  http.Post("/get_reward", [this](const httplib::Request& q, httplib::Response& r) { post_reward(q, r, true); });
  http.Post("/v1/rewards", [this](const httplib::Request& q, httplib::Response& r) { post_reward(q, r, false); });
}

std::shared_ptr<Job> Server::Impl::make_job(const ApiRequest& api) {
  auto job = std::make_shared<Job>();
  job->stream = api.stream;
  std::vector<std::vector<int32_t>> prompts = api.prompt_ids;
  const char* param = "prompt";
  if (api.endpoint == Endpoint::chat) {
    param = "messages";
    if (!chat) throw ApiError(400, "This model has no chat template (tokenizer_config.json 'chat_template'); use /v1/completions");
    json msgs = json::array();
    for (const auto& m : api.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    json vars = {{"messages", msgs}, {"add_generation_prompt", true}};
    if (auto b = tokenizer->bos_id()) vars["bos_token"] = tokenizer->id_to_token(*b);
    if (auto e = tokenizer->eos_id()) vars["eos_token"] = tokenizer->id_to_token(*e);
    std::string text;
    try {
      text = chat->render(vars);
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "messages");
    }
    // The template writes any BOS itself, as transformers' apply_chat_template assumes.
    prompts.push_back(tokenizer->encode(text, /*add_special_tokens=*/false));
  } else {
    for (const auto& p : api.prompts)
      prompts.push_back(encode_completion_prompt(*tokenizer, p, engine->decoder().config().bos_token_id));
  }
  for (auto& ids : prompts) {
    rollout::Request r{std::move(ids), api.params};
    if (api.endpoint == Endpoint::chat && !api.max_tokens_given)  // chat: as long as the row allows
      r.params.max_new_tokens = std::max<int64_t>(1, engine->max_len() - static_cast<int64_t>(r.prompt.size()));
    const std::string why = engine->check(r);
    if (!why.empty()) throw ApiError(400, why, why.find("max_new_tokens") != std::string::npos ? param : "");
    job->requests.push_back(std::move(r));
  }
  return job;
}

std::shared_ptr<void> Server::Impl::track() {
  {
    std::lock_guard<std::mutex> lk(active_mu);
    ++active;
  }
  return std::shared_ptr<void>(nullptr, [this](void*) {
    {
      std::lock_guard<std::mutex> lk(active_mu);
      --active;
    }
    active_cv.notify_all();
  });
}

void Server::Impl::post_reward(const httplib::Request& req, httplib::Response& res, bool openrlhf) {
  auto in_progress = track();  // a drain waits for the answer
  try {
    if (draining) return reply_error(res, 503, "The server is shutting down", "server_error", "", "service_unavailable");
    if (!rewards)
      throw ApiError(404, "This server has no reward model; restart it with --reward-model DIR", "model",
                     "invalid_request_error", "model_not_found");
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      throw ApiError(400, std::string("The body is not valid JSON: ") + e.what());
    }
    const int64_t max_items = opts.reward.max_items;
    RewardRequest r = openrlhf ? parse_get_reward(body, max_items) : parse_v1_rewards(body, max_items);
    auto answer = rewards->score(r);
    res.set_content((openrlhf ? get_reward_response(answer) : v1_rewards_response(answer)).dump(), "application/json");
  } catch (const ApiError& e) {
    reply_error(res, e.status, e.what(), e.type, e.param, e.code);
  } catch (const std::exception& e) {
    log_error("serve: ", e.what());
    reply_error(res, 500, e.what(), "server_error");
  }
}

void Server::Impl::post(const httplib::Request& req, httplib::Response& res, Endpoint ep) {
  // Released when this handler returns, or for a stream when httplib drops the provider after the
  // last chunk: a drain waits for it, because httplib's stop() cuts streams still being written.
  auto in_progress = track();
  try {
    if (draining) return reply_error(res, 503, "The server is shutting down", "server_error", "", "service_unavailable");
    if (!engine)
      throw ApiError(404, "This server has no generation model (started with --reward-model only); use POST /get_reward "
                     "or /v1/rewards, or restart it with --model DIR", "model", "invalid_request_error",
                     "model_not_found");
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      throw ApiError(400, std::string("The body is not valid JSON: ") + e.what());
    }
    auto api = std::make_shared<ApiRequest>(parse_request(body, ep, limits));
    auto job = make_job(*api);
    if (job->samples() > worker->capacity())
      throw ApiError(400, str("The request asks for ", job->samples(), " samples (prompts x n) and this server holds ",
                              worker->capacity(), " at once (serve.max_batch + serve.max_queue); ask for fewer"),
                     "n");
    if (!worker->submit(job))
      return reply_error(res, 503, str("The server is busy (", worker->in_flight(), " requests in flight); retry later"),
                         "server_error", "", "queue_full");
    ResponseMeta meta{str(ep == Endpoint::chat ? "chatcmpl-" : "cmpl-", id_prefix, next_id++), limits.model_name,
                      static_cast<int64_t>(std::time(nullptr))};
    if (api->stream) return stream(res, job, api, meta, in_progress);
    std::unique_lock<std::mutex> lk(job->mu);
    job->cv.wait(lk, [&] { return job->finished(); });
    if (!job->error.empty()) return reply_error(res, 500, job->error, "server_error");
    res.set_content(completion_response(*api, job->results, meta, *tokenizer).dump(), "application/json");
  } catch (const ApiError& e) {
    reply_error(res, e.status, e.what(), e.type, e.param, e.code);
  } catch (const std::exception& e) {
    log_error("serve: ", e.what());
    reply_error(res, 500, e.what(), "server_error");
  }
}

void Server::Impl::stream(httplib::Response& res, std::shared_ptr<Job> job, std::shared_ptr<ApiRequest> api,
                          ResponseMeta meta, std::shared_ptr<void> in_progress) {
  auto started = std::make_shared<bool>(false);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, job, api, meta, started](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& payload) {
          const std::string s = "data: " + payload + "\n\n";
          return sink.write(s.data(), s.size());
        };
        if (!*started) {
          *started = true;
          if (api->endpoint == Endpoint::chat) {
            const int64_t choices = static_cast<int64_t>(job->requests.size()) * api->params.n;
            for (int64_t i = 0; i < choices; ++i)
              if (!send(chat_role_chunk(i, meta).dump())) return false;
          }
        }
        std::deque<Job::Event> events;
        bool finished;
        std::string error;
        {
          std::unique_lock<std::mutex> lk(job->mu);
          job->cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return !job->events.empty() || job->finished(); });
          events.swap(job->events);
          finished = job->finished();
          error = job->error;
        }
        for (auto& e : events) {
          if (e.ev.text.empty() && !e.ev.finished && !api->logprobs) continue;
          if (e.ev.finish == rollout::FinishReason::cancelled) continue;
          if (!e.top.empty()) e.ev.top = &e.top;
          if (!send(stream_chunk(*api, e.ev, e.index, meta, *tokenizer).dump())) return false;
        }
        if (!finished) return sink.is_writable();
        if (!error.empty()) send(error_body(error, "server_error").dump());
        if (error.empty() && api->include_usage) send(usage_chunk(*api, usage_json(job->results), meta).dump());
        send("[DONE]");
        sink.done();
        return true;
      },
      [this, job, in_progress](bool success) {
        if (!success) worker->cancel(job);  // the client went away: free its rows
      });
}

Server::Server(model::CausalLM lm, Tokenizer tokenizer, const std::string& chat_template, ServeOptions opts,
               std::string api_key)
    : Server(GenerationModel{std::move(lm), std::move(tokenizer), chat_template}, {}, "cpu", std::move(opts),
             std::move(api_key)) {}

Server::Server(std::optional<GenerationModel> gen, const std::vector<RewardModelSpec>& rewards,
               const std::string& reward_device, ServeOptions opts, std::string api_key) {
  validate_options(opts);
  impl_ = std::make_unique<Impl>(std::move(gen), rewards, reward_device, std::move(opts), std::move(api_key));
}

Server::~Server() {
  if (!impl_) return;
  if (impl_->worker) impl_->worker->stop();
  if (impl_->rewards) impl_->rewards->stop();
}

int Server::bind() {
  auto& o = impl_->opts;
  if (o.port == 0) impl_->port = impl_->http.bind_to_any_port(o.host);
  else impl_->port = impl_->http.bind_to_port(o.host, static_cast<int>(o.port)) ? static_cast<int>(o.port) : -1;
  RLEIF_CHECK(impl_->port > 0, "serve: cannot listen on ", o.host, ":", o.port,
              " (address in use, not an address of this machine, or no permission); choose another --host/--port");
  return impl_->port;
}

void Server::serve() {
  impl_->http.listen_after_bind();  // returns after stop(), once the connection threads have finished
  if (impl_->worker) impl_->worker->stop();
  if (impl_->rewards) impl_->rewards->stop();
}

void Server::stop() {
  impl_->draining = true;  // from now on new requests get 503
  {
    std::unique_lock<std::mutex> lk(impl_->active_mu);
    impl_->active_cv.wait(lk, [&] { return impl_->active == 0; });
  }
  impl_->http.stop();
}

}  // namespace rleif::serve
