// A client of remote reward endpoints in OpenRLHF's shape (what `rleif serve --reward-model` answers at
// POST /get_reward): {"query": [...], "prompts": [...], "labels": [...]} -> {"rewards": [...]}.
// Plain http:// only (cpp-httplib is built here without TLS); retries transient failures.
#pragma once
#include <string>
#include <vector>

namespace rleif::serve {

struct RewardClientOptions {
  double timeout_s = 120;  // per request
  int retries = 3;         // attempts after a connection error or a 5xx answer
};

// One request; throws rleif::Error naming the URL and what went wrong (status, body excerpt, a
// missing or malformed "rewards" list, a count that differs from the queries).
std::vector<double> remote_rewards(const std::string& url, const std::vector<std::string>& queries,
                                   const std::vector<std::string>& prompts, const std::vector<std::string>& labels,
                                   const RewardClientOptions& opts = {});

}  // namespace rleif::serve
