#include "core/error.h"
#include "model/tokenizer.h"
#include "tests/fuzz/targets.h"

namespace rleif::fuzz {
namespace {

void exercise(const Tokenizer& tok, std::string_view text) {
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, true);
  } catch (const Error&) {
    return;  // invalid UTF-8 is refused by design
  }
  (void)tok.decode(ids, false);
  (void)tok.decode(ids, true);
  for (int32_t id : ids) (void)tok.id_to_token(id);
}

}  // namespace

// A tokenizer.json: loaded, then used on a fixed text and on itself.
int tokenizer_load(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    Tokenizer tok = Tokenizer::from_json(j, "fuzz tokenizer.json");
    exercise(tok, "Natalia sold 48 clips in April. The answer is: 72");
    exercise(tok, text.substr(0, 256));
    (void)tok.vocab_size();
    (void)tok.bos_id();
    (void)tok.eos_id();
  } catch (const Error&) {
  }
  return 0;
}

// Arbitrary text through encode/decode; valid UTF-8 must round-trip exactly.
int tokenizer_encode(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const Tokenizer& tok = domain_tokenizer();
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, false);
  } catch (const Error&) {
    return 0;
  }
  std::string back = tok.decode(ids, false);
  RLEIF_CHECK(back == text, "fuzz: byte-level BPE did not round-trip ", text.size(), " bytes");
  exercise(tok, text);
  return 0;
}

}  // namespace rleif::fuzz
