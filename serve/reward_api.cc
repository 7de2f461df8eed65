#include "serve/reward_api.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "serve/openai_api.h"

namespace rleif::serve {

void RewardOptions::validate() const {
  RLEIF_CHECK(batch_size >= 1, "serve.reward.batch_size is ", batch_size, "; use at least 1");
  RLEIF_CHECK(max_items >= 1, "serve.reward.max_items is ", max_items, "; use at least 1");
  RLEIF_CHECK(max_queue >= 1, "serve.reward.max_queue is ", max_queue, "; use at least 1");
  RLEIF_CHECK(threads >= 0, "serve.reward.threads is ", threads, "; use 0 (leave as is) or more");
  RLEIF_CHECK(max_length >= 0, "serve.reward.max_length is ", max_length, "; use 0 (the model's) or more");
}

RewardModelSpec parse_reward_model_spec(const std::string& arg) {
  RewardModelSpec s;
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) {
    s.dir = arg;
    std::string d = arg;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    const size_t slash = d.find_last_of('/');
    s.name = slash == std::string::npos ? d : d.substr(slash + 1);
  } else {
    s.name = arg.substr(0, eq);
    s.dir = arg.substr(eq + 1);
  }
  RLEIF_CHECK(!s.name.empty() && !s.dir.empty(), "serve: --reward-model '", arg,
              "' needs a directory, as DIR or NAME=DIR (NAME is the id clients send in \"model\")");
  return s;
}

namespace {

std::string type_of(const json& j) { return j.is_number() ? "a number" : str("a ", j.type_name()); }

std::string get_string(const json& j, const std::string& field) {
  if (!j.is_string()) throw ApiError(400, str("'", field, "' must be a string, got ", type_of(j)), field);
  return j.get<std::string>();
}

// A list of strings, non-empty, at most max_items long (when max_items > 0).
std::vector<std::string> get_strings(const json& j, const std::string& field, int64_t max_items) {
  if (!j.is_array()) throw ApiError(400, str("'", field, "' must be a list of strings, got ", type_of(j)), field);
  if (j.empty()) throw ApiError(400, str("'", field, "' is empty; send at least one entry"), field);
  if (max_items > 0 && static_cast<int64_t>(j.size()) > max_items)
    throw ApiError(400, str("'", field, "' has ", j.size(), " entries; this server scores at most ", max_items,
                            " per request (serve.reward.max_items); split the request"), field);
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(get_string(j[i], str(field, "[", i, "]")));
  return out;
}

void common_fields(const json& body, RewardRequest& r) {
  if (!body.is_object()) throw ApiError(400, str("The body must be a JSON object, got ", type_of(body)));
  if (body.contains("model") && !body["model"].is_null()) r.model = get_string(body["model"], "model");
  if (body.contains("aggregation") && !body["aggregation"].is_null()) {
    const std::string a = get_string(body["aggregation"], "aggregation");
    bool ok = false;
    for (auto& [e, n] : EnumNames<rm::Aggregation>::list())
      if (a == n) r.aggregation = e, ok = true;
    if (!ok)
      throw ApiError(400, str("'aggregation' is '", a, "'; use one of ", enum_choices<rm::Aggregation>()),
                     "aggregation");
    r.aggregation_given = true;
  }
}

}  // namespace

RewardRequest parse_get_reward(const json& body, int64_t max_items) {
  RewardRequest r;
  common_fields(body, r);
  if (!body.contains("query"))
    throw ApiError(400, "'query' is missing; send {\"query\": [prompt + response, ...], \"prompts\": [prompt, ...]}",
                   "query");
  const auto query = get_strings(body["query"], "query", max_items);
  std::vector<std::string> prompts;
  if (body.contains("prompts") && !body["prompts"].is_null()) {
    prompts = get_strings(body["prompts"], "prompts", 0);
    if (prompts.size() != query.size())
      throw ApiError(400, str("'prompts' has ", prompts.size(), " entries but 'query' has ", query.size(),
                              "; give one prompt per query (or leave 'prompts' out)"),
                     "prompts");
  }
  for (size_t i = 0; i < query.size(); ++i) {
    RewardItem it;
    if (!prompts.empty() && query[i].compare(0, prompts[i].size(), prompts[i]) == 0) {
      it.prompt = prompts[i];
      it.response = query[i].substr(prompts[i].size());
    } else {
      it.response = query[i];
    }
    r.items.push_back(std::move(it));
  }
  return r;
}

RewardRequest parse_v1_rewards(const json& body, int64_t max_items) {
  RewardRequest r;
  common_fields(body, r);
  if (!body.contains("items"))
    throw ApiError(400, "'items' is missing; send {\"items\": [{\"prompt\": ..., \"response\": ...}, ...]}", "items");
  const json& items = body["items"];
  if (!items.is_array()) throw ApiError(400, str("'items' must be a list of objects, got ", type_of(items)), "items");
  if (items.empty()) throw ApiError(400, "'items' is empty; send at least one {\"prompt\", \"response\"}", "items");
  if (static_cast<int64_t>(items.size()) > max_items)
    throw ApiError(400, str("'items' has ", items.size(), " entries; this server scores at most ", max_items,
                            " per request (serve.reward.max_items); split the request"), "items");
  for (size_t i = 0; i < items.size(); ++i) {
    const json& j = items[i];
    const std::string at = str("items[", i, "]");
    if (!j.is_object()) throw ApiError(400, str("'", at, "' must be an object, got ", type_of(j)), at);
    if (!j.contains("prompt")) throw ApiError(400, str("'", at, ".prompt' is missing"), at + ".prompt");
    RewardItem it;
    it.prompt = get_string(j["prompt"], at + ".prompt");
    const bool has_response = j.contains("response"), has_steps = j.contains("steps");
    if (has_response && has_steps)
      throw ApiError(400, str("'", at, "' has both 'response' and 'steps'; give one"), at);
    if (has_response) it.response = get_string(j["response"], at + ".response");
    else if (has_steps) it.steps = get_strings(j["steps"], at + ".steps", 0), it.by_steps = true;
    else it.prompt_only = true;
    r.items.push_back(std::move(it));
  }
  return r;
}

struct RewardService::Model {
  struct Job {
    std::vector<RewardItem> items;
    rm::Aggregation aggregation = rm::Aggregation::min;
    bool aggregation_given = false;
    std::vector<rm::Score> scores;
    std::string error;  // set with status when scoring failed
    int status = 0;
    bool done = false;
  };

  std::string name, dir;
  std::unique_ptr<rm::Scorer> scorer;
  rm::RmKind kind = rm::RmKind::orm;
  int64_t batch_size = 16;
  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  std::deque<std::shared_ptr<Job>> queue;
  bool stopping = false;
  std::thread thread;

  // The one thread that touches `scorer`: takes whole queued requests up to batch_size texts (at
  // least one request) and scores them in one call per kind of input.
  void loop() {
    for (;;) {
      std::vector<std::shared_ptr<Job>> batch;
      {
        std::unique_lock<std::mutex> lk(mu);
        work_cv.wait(lk, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping, and every queued request answered
        int64_t n = 0;
        while (!queue.empty() &&
               (batch.empty() || n + static_cast<int64_t>(queue.front()->items.size()) <= batch_size)) {
          n += static_cast<int64_t>(queue.front()->items.size());
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      try {
        run(batch);
      } catch (const std::exception&) {
        // One bad request must not fail the others it was batched with: score each alone.
        for (auto& j : batch) {
          try {
            run({j});
          } catch (const Error& e) {
            j->status = 400, j->error = e.what();
          } catch (const std::exception& e) {
            j->status = 500, j->error = e.what();
            log_error("serve: reward model ", name, ": ", e.what());
          }
        }
      }
      {
        std::lock_guard<std::mutex> lk(mu);
        for (auto& j : batch) j->done = true;
      }
      done_cv.notify_all();
    }
  }

  void run(const std::vector<std::shared_ptr<Job>>& jobs) {
    std::vector<std::pair<std::string, std::string>> texts;
    std::vector<std::pair<std::string, std::vector<std::string>>> steps;
    for (auto& j : jobs)
      for (auto& it : j->items) {
        if (it.by_steps) steps.emplace_back(it.prompt, it.steps);
        // An IRM scores the instruction alone; a query with no prompt is the instruction.
        else if (kind == rm::RmKind::irm) texts.emplace_back(it.prompt.empty() ? it.response : it.prompt, "");
        else texts.emplace_back(it.prompt, it.response);
      }
    std::vector<rm::Score> st = texts.empty() ? std::vector<rm::Score>{} : scorer->score(texts);
    std::vector<rm::Score> ss = steps.empty() ? std::vector<rm::Score>{} : scorer->score_steps(steps);
    size_t a = 0, b = 0;
    for (auto& j : jobs) {
      j->scores.clear();
      for (auto& it : j->items) {
        rm::Score s = it.by_steps ? ss[b++] : st[a++];
        if (j->aggregation_given && !s.steps.empty()) s.score = rm::aggregate_steps(s.steps, j->aggregation);
        j->scores.push_back(std::move(s));
      }
    }
  }
};

RewardService::RewardService(const std::vector<RewardModelSpec>& models, const RewardOptions& opts,
                             const std::string& device)
    : opts_(opts) {
  opts_.validate();
  RLEIF_CHECK(!models.empty(), "serve: no reward model given; add --reward-model DIR");
  rm::ScorerOptions so;
  so.device = device;
  so.batch_size = opts.batch_size;
  so.threads = opts.threads;
  so.max_length = opts.max_length;
  so.aggregation = opts.aggregation;
  for (auto& spec : models) {
    for (auto& m : models_)
      RLEIF_CHECK(m->name != spec.name, "serve: two reward models are named '", spec.name, "' (", m->dir, " and ",
                  spec.dir, "); name them apart with --reward-model NAME=DIR");
    auto m = std::make_unique<Model>();
    m->name = spec.name;
    m->dir = spec.dir;
    m->scorer = std::make_unique<rm::Scorer>(spec.dir, so);
    m->kind = m->scorer->kind();
    m->batch_size = opts.batch_size;
    models_.push_back(std::move(m));
  }
  for (auto& m : models_) m->thread = std::thread([p = m.get()] { p->loop(); });
}

RewardService::~RewardService() { stop(); }

void RewardService::stop() {
  for (auto& m : models_) {
    {
      std::lock_guard<std::mutex> lk(m->mu);
      m->stopping = true;
    }
    m->work_cv.notify_all();
    if (m->thread.joinable()) m->thread.join();
  }
}

bool RewardService::has(const std::string& name) const {
  for (auto& m : models_)
    if (m->name == name) return true;
  return false;
}

std::vector<json> RewardService::model_cards(int64_t created) const {
  std::vector<json> out;
  for (auto& m : models_)
    out.push_back(json{{"id", m->name}, {"object", "model"}, {"created", created}, {"owned_by", "rleif"},
                       {"type", "reward"}, {"kind", enum_name(m->kind)}});
  return out;
}

RewardService::Answer RewardService::score(const RewardRequest& r) {
  Model* m = r.model.empty() ? models_.front().get() : nullptr;
  for (auto& x : models_)
    if (!m && x->name == r.model) m = x.get();
  if (!m) {
    std::vector<std::string> names;
    for (auto& x : models_) names.push_back(x->name);
    throw ApiError(404, str("The reward model '", r.model, "' does not exist; this server has ", join(names, ", ")),
                   "model", "invalid_request_error", "model_not_found");
  }
  for (size_t i = 0; i < r.items.size(); ++i) {
    const auto& it = r.items[i];
    if (it.by_steps && m->kind != rm::RmKind::prm)
      throw ApiError(400, str("'items[", i, "].steps': '", m->name, "' is an ", enum_name(m->kind),
                              " model; only a PRM scores explicit steps (send 'response' instead)"),
                     str("items[", i, "].steps"));
    if (it.prompt_only && m->kind != rm::RmKind::irm)
      throw ApiError(400, str("'items[", i, "]' has no 'response' (or 'steps'); '", m->name, "' is a ",
                              enum_name(m->kind), " model and scores a prompt's response"),
                     str("items[", i, "].response"));
  }
  auto job = std::make_shared<Model::Job>();
  job->items = r.items;
  job->aggregation = r.aggregation;
  job->aggregation_given = r.aggregation_given;
  std::unique_lock<std::mutex> lk(m->mu);
  if (m->stopping) throw ApiError(503, "The server is shutting down", "", "server_error", "service_unavailable");
  if (static_cast<int64_t>(m->queue.size()) >= opts_.max_queue)
    throw ApiError(503, str("The reward model '", m->name, "' is busy (", m->queue.size(), " requests waiting); retry later"),
                   "", "server_error", "queue_full");
  m->queue.push_back(job);
  m->work_cv.notify_one();
  m->done_cv.wait(lk, [&] { return job->done; });
  if (!job->error.empty()) throw ApiError(job->status, job->error, "", job->status == 400 ? "invalid_request_error" : "server_error");
  return Answer{m->name, m->kind, std::move(job->scores)};
}

json get_reward_response(const RewardService::Answer& a) {
  json rewards = json::array(), truncated = json::array(), step_scores = json::array();
  for (auto& s : a.scores) {
    rewards.push_back(s.score);
    truncated.push_back(s.truncated ? 1.0 : 0.0);
    step_scores.push_back(s.steps);
  }
  // extra_logs holds one number per query, as OpenRLHF logs each key's mean.
  json out{{"rewards", rewards}, {"scores", rewards}, {"extra_logs", {{"truncated", truncated}}}, {"model", a.model}};
  if (a.kind == rm::RmKind::prm) out["step_scores"] = step_scores;
  return out;
}

json v1_rewards_response(const RewardService::Answer& a) {
  json results = json::array();
  for (auto& s : a.scores) {
    json j{{"score", s.score}};
    if (a.kind == rm::RmKind::prm) j["steps"] = s.steps;
    if (s.truncated) j["truncated"] = true;
    results.push_back(std::move(j));
  }
  return json{{"model", a.model}, {"kind", enum_name(a.kind)}, {"results", results}};
}

}  // namespace rleif::serve
