#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "tests/fuzz/targets.h"

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
