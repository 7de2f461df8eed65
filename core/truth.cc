#include "core/truth.h"

#include "core/answer.h"
#include "core/error.h"
#include "core/strings.h"

namespace rleif {

std::optional<std::string> record_truth(const json& rec, const SourceLoc& loc) {
  for (const char* key : {"truth", "answer"}) {
    if (!rec.contains(key) || rec[key].is_null()) continue;
    const json& a = rec[key];
    if (a.is_number_integer()) return std::to_string(a.get<int64_t>());
    if (a.is_number()) return a.dump();
    RLEIF_CHECK(a.is_string(), loc.str(), ": field '", key, "' must be a number or a string, got ", a.dump().substr(0, 80));
    auto extracted = extract_answer(a.get<std::string>());
    std::string t = extracted ? *extracted : trim(a.get<std::string>());
    RLEIF_CHECK(!t.empty(), loc.str(), ": field '", key, "' is empty; give the reference final answer");
    return t;
  }
  return std::nullopt;
}

}  // namespace rleif
