// serve/openai_api.h's request parsing on hostile numbers: integers given as floats or as unsigned
// values past int64 are range-checked as sent, never wrapped into range by a conversion.
#include <gtest/gtest.h>

#include "serve/openai_api.h"

namespace rleif::serve {
namespace {

ApiLimits limits() {
  ApiLimits l;
  l.model_name = "m";
  return l;
}

ApiRequest parse(const json& extra) {
  json body{{"model", "m"}, {"prompt", "hi"}};
  body.update(extra);
  return parse_request(body, Endpoint::completions, limits());
}

// The 400 error parse gives for `extra`, or "" when it accepts it.
std::string error_for(const json& extra, std::string* param = nullptr) {
  try {
    parse(extra);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    if (param) *param = e.param;
    return e.what();
  }
  return "";
}

TEST(ServeApi, IntegersAsWholeFloatsAreAccepted) {
  EXPECT_EQ(parse({{"n", 2.0}}).params.n, 2);
  EXPECT_EQ(parse({{"max_tokens", 7.0}}).params.max_new_tokens, 7);
  EXPECT_EQ(parse({{"seed", -4.0}}).params.seed, (-4) & std::numeric_limits<int64_t>::max());
}

TEST(ServeApi, HugeNumbersAreOutOfRangeNotWrapped) {
  std::string param;
  // 1e30 as int64 would be undefined (x86 gives INT64_MIN, inside seed's full int64 range).
  EXPECT_NE(error_for({{"seed", 1e30}}, &param).find("'seed' is 1e+30; it must lie in"), std::string::npos);
  EXPECT_EQ(param, "seed");
  EXPECT_NE(error_for({{"seed", -1e30}}).find("'seed' is -1e+30"), std::string::npos);
  EXPECT_NE(error_for({{"max_tokens", 1e19}}).find("'max_tokens' is 1e+19; it must lie in [1, "), std::string::npos);
  EXPECT_NE(error_for({{"n", 9.3e18}}).find("'n' is 9.3e+18"), std::string::npos);
  // 2^63 is the first float past int64; 2^64 - 1 as an unsigned would read back as -1 ("off" for top_k).
  EXPECT_NE(error_for({{"seed", 9223372036854775808.0}}).find("'seed' is 9.223372036854776e+18"), std::string::npos);
  EXPECT_NE(error_for({{"top_k", json(uint64_t{18446744073709551615u})}}, &param)
                .find("'top_k' is 18446744073709551615; it must lie in [-1, "),
            std::string::npos);
  EXPECT_EQ(param, "top_k");
  EXPECT_NE(error_for({{"seed", json(uint64_t{9223372036854775808u})}}).find("'seed' is 9223372036854775808"),
            std::string::npos);
  EXPECT_NE(error_for({{"n", 2.5}}).find("'n' must be an integer, got 2.5"), std::string::npos);
}

}  // namespace
}  // namespace rleif::serve
