// Seed instructions for evolution: rleif's seed JSONL ({"id", "instruction", "answer"?}), GSM8K's
// {"question", "answer": "... #### N"} through an adapter, or problems of the built-in math domain.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/options.h"

namespace rleif::evol {

enum class SeedFormat { jsonl, gsm8k, synth };

struct Seed {
  std::string id;
  std::string instruction;
  std::optional<std::string> answer;  // ground truth, when known
};

struct SeedOptions {
  std::string path;
  SeedFormat format = SeedFormat::jsonl;
  int64_t limit = 0;
  int64_t synth_count = 100;
  int64_t synth_seed = 1;
  int synth_min_steps = 1;
  int synth_max_steps = 3;

  template <class V>
  void visit(V& v) {
    v.field("path", path, "seed file (JSONL); unused for format synth");
    v.field("format", format,
            "jsonl: {\"id\", \"instruction\", \"answer\"?}; gsm8k: {\"question\", \"answer\": \"... #### N\"}; "
            "synth: problems of the built-in math domain");
    v.field("limit", limit, "use only the first N seeds; 0 = all");
    v.field("synth_count", synth_count, "format synth: how many problems");
    v.field("synth_seed", synth_seed, "format synth: generator seed");
    v.field("synth_min_steps", synth_min_steps, "format synth: fewest steps per problem");
    v.field("synth_max_steps", synth_max_steps, "format synth: most steps per problem");
  }
  void validate() const;
};

// Loads and checks the seeds: a missing or mistyped field, an empty instruction or a repeated id
// is an rleif::Error naming the file and line.
std::vector<Seed> load_seeds(const SeedOptions& opts);

}  // namespace rleif::evol

RLEIF_ENUM_NAMES(rleif::evol::SeedFormat, {rleif::evol::SeedFormat::jsonl, "jsonl"},
                 {rleif::evol::SeedFormat::gsm8k, "gsm8k"}, {rleif::evol::SeedFormat::synth, "synth"});
