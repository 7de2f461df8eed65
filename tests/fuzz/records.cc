#include "core/error.h"
#include "core/jsonl.h"
#include "evol/seeds.h"
#include "model/tokenizer.h"
#include "rm/data.h"
#include "rm/label_mc.h"
#include "tests/fuzz/targets.h"
#include "train/evaluate.h"
#include "train/sft_data.h"

namespace rleif::fuzz {
namespace {

rm::PrmReadOptions prm_options(rm::PrmFormat f, rm::BadRecord on_error) {
  rm::PrmReadOptions o;
  o.format = f;
  o.on_error = on_error;
  return o;
}

}  // namespace

// Every JSONL record reader on arbitrary file content. Byte 0: low 4 bits pick the reader, bit 4
// switches the readers that can skip malformed records to skip-and-count mode.
int jsonl_records(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int which = data[0] & 0x0f;
  const bool skip = (data[0] & 0x10) != 0;
  const rm::BadRecord bad = skip ? rm::BadRecord::skip : rm::BadRecord::error;
  const std::string& path = scratch_file(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  rm::ReadOptions ro;
  ro.on_error = bad;
  try {
    switch (which) {
      case 0: (void)rm::read_irm_lists(path, ro); break;
      case 1: (void)rm::read_prm_examples(path, prm_options(rm::PrmFormat::auto_, bad)); break;
      case 2: (void)rm::read_prm_examples(path, prm_options(rm::PrmFormat::rleif, bad)); break;
      case 3: (void)rm::read_prm_examples(path, prm_options(rm::PrmFormat::math_shepherd, bad)); break;
      case 4: (void)rm::read_prm_examples(path, prm_options(rm::PrmFormat::prm800k, bad)); break;
      case 5: (void)rm::read_prm_examples(path, prm_options(rm::PrmFormat::trl, bad)); break;
      case 6: (void)rm::read_prm_examples(path, prm_options(rm::PrmFormat::prmbench, bad)); break;
      case 7: (void)rm::read_prm_examples(path, prm_options(rm::PrmFormat::mr_gsm8k, bad)); break;
      case 8: (void)rm::read_orm_examples(path, ro); break;
      case 9: (void)rm::read_pair_examples(path, ro); break;
      case 10: (void)train::load_eval_problems(path, 0, /*require_truth=*/!skip); break;
      case 11: {
        train::SftDataOptions o;
        o.max_length = 64;
        o.on_error = skip ? train::OnError::skip : train::OnError::error;
        (void)train::load_sft_data(path, domain_tokenizer(), 2, o);
        break;
      }
      case 12: {
        evol::SeedOptions o;
        o.path = path;
        o.format = skip ? evol::SeedFormat::gsm8k : evol::SeedFormat::jsonl;
        (void)evol::load_seeds(o);
        break;
      }
      case 13: (void)rm::read_mc_solutions(path, "", 0); break;
      default: {
        JsonlReader r(path, skip);
        json v;
        SourceLoc loc;
        while (r.next(v, loc)) {
        }
      }
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace rleif::fuzz
