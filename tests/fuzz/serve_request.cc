#include "core/error.h"
#include "serve/openai_api.h"
#include "serve/reward_api.h"
#include "tests/fuzz/targets.h"

namespace rleif::fuzz {
namespace {

// What the parser promises the engine about a request it accepted.
void check_params(const rollout::SamplingParams& p, const serve::ApiLimits& limits) {
  RLEIF_CHECK(p.n >= 1 && p.n <= limits.max_n, "fuzz: n=", p.n, " passed the parser");
  RLEIF_CHECK(p.temperature >= 0 && p.temperature <= 2, "fuzz: temperature=", p.temperature, " passed the parser");
  RLEIF_CHECK(p.top_p > 0 && p.top_p <= 1, "fuzz: top_p=", p.top_p, " passed the parser");
  RLEIF_CHECK(p.top_k >= 0 && p.max_new_tokens >= 0, "fuzz: top_k=", p.top_k, " max_new_tokens=", p.max_new_tokens);
  RLEIF_CHECK(p.top_logprobs >= 0 && p.top_logprobs <= 20, "fuzz: top_logprobs=", p.top_logprobs);
}

}  // namespace

// An HTTP request body of serve's POST endpoints. A client's mistake must be an ApiError (an HTTP
// 4xx naming the field); anything else escaping the parser would answer 500 and is a finding.
// Byte 0 picks the endpoint: completions, chat, /get_reward (OpenRLHF), /v1/rewards.
int serve_request(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  json body = json::parse(reinterpret_cast<const char*>(data + 1), reinterpret_cast<const char*>(data + size), nullptr,
                          /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;  // the server answers 400 before any parser runs
  serve::ApiLimits limits;
  limits.model_name = "rleif";
  try {
    switch (data[0] % 4) {
      case 0: {
        serve::ApiRequest r = serve::parse_request(body, serve::Endpoint::completions, limits);
        check_params(r.params, limits);
        break;
      }
      case 1: check_params(serve::parse_request(body, serve::Endpoint::chat, limits).params, limits); break;
      case 2: (void)serve::parse_get_reward(body, 16); break;
      default: (void)serve::parse_v1_rewards(body, 16); break;
    }
  } catch (const serve::ApiError& e) {
    RLEIF_CHECK(e.status >= 400 && e.status < 500, "fuzz: a bad request answered ", e.status);
  }
  return 0;
}

}  // namespace rleif::fuzz
