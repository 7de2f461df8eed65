#include "serve/reward_client.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/jsonl.h"

namespace rleif::serve {

std::vector<double> remote_rewards(const std::string& url, const std::vector<std::string>& queries,
                                   const std::vector<std::string>& prompts, const std::vector<std::string>& labels,
                                   const RewardClientOptions& opts) {
  RLEIF_CHECK(url.rfind("http://", 0) == 0, "remote reward URL ", url, ": only http://host:port/path is supported");
  const size_t slash = url.find('/', 7);
  const std::string host = url.substr(0, slash), path = slash == std::string::npos ? "/" : url.substr(slash);
  httplib::Client cli(host);
  const auto to = std::chrono::duration<double>(opts.timeout_s);
  cli.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(to));
  cli.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(to));
  const std::string body = json{{"query", queries}, {"prompts", prompts}, {"labels", labels}}.dump();
  std::string last;
  for (int attempt = 0; attempt <= opts.retries; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
    auto res = cli.Post(path, body, "application/json");
    if (!res) {
      last = "no answer (" + httplib::to_string(res.error()) + ")";
      continue;
    }
    if (res->status >= 500) {
      last = "status " + std::to_string(res->status) + ": " + res->body.substr(0, 200);
      continue;
    }
    RLEIF_CHECK(res->status == 200, "remote reward ", url, " answered status ", res->status, ": ", res->body.substr(0, 200));
    json j = json::parse(res->body, nullptr, false);
    RLEIF_CHECK(j.is_object() && j.contains("rewards") && j["rewards"].is_array(), "remote reward ", url,
                " answered without a \"rewards\" list: ", res->body.substr(0, 200));
    std::vector<double> out;
    for (const auto& r : j["rewards"]) {
      RLEIF_CHECK(r.is_number() || r.is_null(), "remote reward ", url, ": a reward is not a number: ", r.dump());
      out.push_back(r.is_number() ? r.get<double>() : std::numeric_limits<double>::quiet_NaN());
    }
    RLEIF_CHECK(out.size() == queries.size(), "remote reward ", url, " answered ", out.size(), " rewards for ",
                queries.size(), " queries");
    return out;
  }
  RLEIF_FAIL("remote reward ", url, ": ", opts.retries + 1, " attempts failed; last: ", last,
             ". Is the reward server running (rleif serve --reward-model DIR)?");
}

}  // namespace rleif::serve
