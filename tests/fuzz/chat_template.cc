#include "core/error.h"
#include "serve/chat_template.h"
#include "tests/fuzz/targets.h"

namespace rleif::fuzz {

// A chat template: the source up to the first NUL, then JSON variables (messages and the rest); with
// no NUL or invalid JSON, a fixed two-message conversation. Parse and render errors are rleif::Error.
int chat_template(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::string source = in;
  json vars = {{"messages", {{{"role", "system"}, {"content", "Solve it."}}, {{"role", "user"}, {"content", "1+1?"}}}},
               {"add_generation_prompt", true},
               {"bos_token", "<s>"},
               {"eos_token", "</s>"}};
  if (size_t nul = in.find('\0'); nul != std::string::npos) {
    source = in.substr(0, nul);
    json v = json::parse(in.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
    if (!v.is_discarded() && v.is_object()) vars = v;
  }
  try {
    serve::ChatTemplate t(source, "fuzz template");
    (void)t.render(vars);
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace rleif::fuzz
