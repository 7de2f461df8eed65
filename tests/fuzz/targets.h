// Fuzz targets: each takes arbitrary bytes and feeds them to one input parser of rleif. The contract
// they check: bad input ends in rleif::Error (serve::ApiError for HTTP request bodies), never in a
// crash, a sanitizer report, another exception type or a hang. The same functions run under
// libFuzzer (tests/fuzz/main.cc, built with RLEIF_FUZZ=ON) and in ctest's fuzz_replay_test, which
// replays the seed corpus and every regression input (tests/fuzz/regressions/<target>/).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rleif {
class Tokenizer;
}

namespace rleif::fuzz {

int safetensors_header(const uint8_t* data, size_t size);  // a .safetensors file
int tokenizer_load(const uint8_t* data, size_t size);       // tokenizer.json, then encode/decode
int tokenizer_encode(const uint8_t* data, size_t size);     // text through a byte-level BPE
int jsonl_records(const uint8_t* data, size_t size);        // byte 0 picks the reader, the rest is the file
int config_yaml(const uint8_t* data, size_t size);          // byte 0 picks the config, the rest is YAML + overrides
int serve_request(const uint8_t* data, size_t size);        // byte 0 picks the endpoint, the rest is the body
int chat_template(const uint8_t* data, size_t size);        // template source, NUL, JSON variables

struct Target {
  const char* name;
  int (*fn)(const uint8_t*, size_t);
};
const std::vector<Target>& targets();

// The built-in domain's byte-level BPE tokenizer (a split regex, digits alone), learned once per
// process on a few lines of the domain and of the SFT templates.
const Tokenizer& domain_tokenizer();

// Writes `bytes` to a per-process scratch file (same path each call) and returns its path.
const std::string& scratch_file(const std::string& bytes, const char* suffix = ".jsonl");

}  // namespace rleif::fuzz
