#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "model/tokenizer.h"
#include "tests/fuzz/targets.h"
#include "train/domain_tokenizer.h"

namespace rleif::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors_header", safetensors_header}, {"tokenizer_load", tokenizer_load},
      {"tokenizer_encode", tokenizer_encode},     {"jsonl_records", jsonl_records},
      {"config_yaml", config_yaml},               {"serve_request", serve_request},
      {"chat_template", chat_template},
  };
  return all;
}

const Tokenizer& domain_tokenizer() {
  static const Tokenizer tok = Tokenizer::from_json(
      train::build_domain_tokenizer({"Tom has 3 apples and buys 12 more. How many apples does he have?",
                                     "The answer is: 15", "Step 1: 3 + 12 = 15.", "Réponse: ünïcode 数学",
                                     "Below is an instruction. ### Response: Let's think step by step."},
                                    {}),
      "fuzz domain tokenizer");
  return tok;
}

const std::string& scratch_file(const std::string& bytes, const char* suffix) {
  static std::string path;
  const char* tmp = std::getenv("TMPDIR");
  path = str(tmp && *tmp ? tmp : "/tmp", "/rleif-fuzz-", getpid(), suffix);
  FILE* f = std::fopen(path.c_str(), "wb");
  RLEIF_CHECK(f, path, ": cannot open the fuzz scratch file");
  size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  RLEIF_CHECK(n == bytes.size(), path, ": short write of the fuzz scratch file");
  return path;
}

}  // namespace rleif::fuzz
