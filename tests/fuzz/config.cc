#include <string>
#include <vector>

#include "core/error.h"
#include "core/options.h"
#include "core/strings.h"
#include "evol/config.h"
#include "ppo/config.h"
#include "rm/label_mc.h"
#include "rm/scorer.h"
#include "rm/task.h"
#include "tests/fuzz/targets.h"
#include "train/sft.h"

namespace rleif::fuzz {
namespace {

// Loads YAML + overrides into a default T; when that succeeds, the dumped config must load back to
// the same dump (what checkpoints store is what resume reads).
template <class T>
void load_and_round_trip(const std::string& path, const std::vector<std::string>& overrides) {
  T cfg;
  try {
    load_options(cfg, path, overrides);
  } catch (const Error&) {
    return;
  }
  const std::string dumped = dump_options(cfg);
  const std::string& again_path = scratch_file(dumped, ".dump.yaml");
  T again;
  load_options(again, again_path, {});  // must not throw: it is our own output
  RLEIF_CHECK(dump_options(again) == dumped, "fuzz: config did not round-trip through dump_options:\n", dumped);
}

}  // namespace

// A YAML config file and key=value overrides. Byte 0 picks the config; the rest is YAML, then a NUL,
// then one override per line.
int config_yaml(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string yaml = rest, tail;
  if (size_t nul = rest.find('\0'); nul != std::string::npos) {
    yaml = rest.substr(0, nul);
    tail = rest.substr(nul + 1);
  }
  std::vector<std::string> overrides;
  for (auto& line : split(tail, '\n'))
    if (!line.empty()) overrides.push_back(line);
  const std::string path = scratch_file(yaml, ".yaml");
  switch (data[0] % 6) {
    case 0: load_and_round_trip<train::SftConfig>(path, overrides); break;
    case 1: load_and_round_trip<rm::RmConfig>(path, overrides); break;
    case 2: load_and_round_trip<ppo::PpoConfig>(path, overrides); break;
    case 3: load_and_round_trip<evol::EvolConfig>(path, overrides); break;
    case 4: load_and_round_trip<rm::LabelMcConfig>(path, overrides); break;
    default: load_and_round_trip<rm::ScorerOptions>(path, overrides); break;
  }
  return 0;
}

}  // namespace rleif::fuzz
