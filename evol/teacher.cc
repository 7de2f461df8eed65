#include "evol/teacher.h"

#include <memory>

#include "core/error.h"

namespace rleif::evol {

int64_t TeacherStats::total_retries() const {
  int64_t n = 0;
  for (int64_t r : retries) n += r;
  return n;
}

std::future<Completion> Teacher::complete(const Messages& messages, const CompletionParams& params) {
  auto promise = std::make_shared<std::promise<Completion>>();
  std::future<Completion> f = promise->get_future();
  complete_async(messages, params, [promise](CompletionResult r) {
    if (r.ok())
      promise->set_value(std::move(r.completion));
    else
      promise->set_exception(std::make_exception_ptr(Error(r.error)));
  });
  return f;
}

json chat_request_json(const std::string& model, const Messages& messages, const CompletionParams& params,
                       bool send_seed) {
  json msgs = json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  json body{{"model", model},
            {"messages", msgs},
            {"temperature", params.temperature},
            {"top_p", params.top_p},
            {"max_tokens", params.max_tokens}};
  if (!params.stop.empty()) body["stop"] = params.stop;
  if (send_seed) body["seed"] = params.sample_index;
  return body;
}

}  // namespace rleif::evol
