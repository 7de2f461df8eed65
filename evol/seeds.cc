#include "evol/seeds.h"

#include <filesystem>
#include <map>

#include "core/answer.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "core/strings.h"
#include "evol/math_domain.h"

namespace rleif::evol {

void SeedOptions::validate() const {
  RLEIF_CHECK(limit >= 0, "seeds.limit: must be >= 0 (0 = all), got ", limit);
  if (format == SeedFormat::synth) {
    RLEIF_CHECK(synth_count > 0, "seeds.synth_count: must be > 0, got ", synth_count);
    RLEIF_CHECK(synth_min_steps >= 1 && synth_min_steps <= synth_max_steps && synth_max_steps <= 8,
                "seeds.synth_min_steps/synth_max_steps: need 1 <= min <= max <= 8, got ", synth_min_steps, " and ",
                synth_max_steps);
  } else {
    RLEIF_CHECK(!path.empty(), "seeds.path: empty; give the seed JSONL file (or set seeds.format: synth)");
  }
}

std::vector<Seed> load_seeds(const SeedOptions& opts) {
  std::vector<Seed> out;
  if (opts.format == SeedFormat::synth) {
    auto ps = generate_problems(opts.synth_count, static_cast<uint64_t>(opts.synth_seed), opts.synth_min_steps,
                                opts.synth_max_steps);
    for (size_t i = 0; i < ps.size(); ++i) out.push_back({str("synth-", i), ps[i].question, std::to_string(ps[i].answer)});
  } else {
    RLEIF_CHECK(path_exists(opts.path), "seeds.path: ", opts.path, " does not exist");
    JsonlReader reader(opts.path);
    std::string stem = std::filesystem::path(opts.path).stem().string();
    std::map<std::string, size_t> id_lines;
    json rec;
    SourceLoc loc;
    while (reader.next(rec, loc)) {
      if (opts.limit > 0 && static_cast<int64_t>(out.size()) >= opts.limit) break;
      Seed s;
      if (opts.format == SeedFormat::gsm8k) {
        s.id = str(stem, "-", out.size());
        s.instruction = get_field<std::string>(rec, "question", loc, "a string (the GSM8K question)");
        std::string a = get_field<std::string>(rec, "answer", loc, "a string ending in '#### N' (the GSM8K solution)");
        auto n = extract_answer(a);
        RLEIF_CHECK(n && a.find("####") != std::string::npos, loc.str(),
                    ": GSM8K 'answer' has no '#### N' final answer; is this file GSM8K? (use seeds.format: jsonl for ",
                    "{\"id\", \"instruction\", \"answer\"} records)");
        s.answer = *n;
      } else {
        RLEIF_CHECK(rec.contains("id"), loc.str(), ": missing required field 'id' (a string or integer naming the seed)");
        const json& id = rec["id"];
        RLEIF_CHECK(id.is_string() || id.is_number_integer(), loc.str(), ": field 'id' must be a string or an integer, got ",
                    id.dump().substr(0, 80));
        s.id = id.is_string() ? id.get<std::string>() : std::to_string(id.get<int64_t>());
        RLEIF_CHECK(rec.contains("instruction"), loc.str(),
                    ": missing required field 'instruction' (a string)",
                    rec.contains("question") ? "; this looks like GSM8K: set seeds.format: gsm8k" : "");
        s.instruction = get_field<std::string>(rec, "instruction", loc, "a string");
        if (rec.contains("answer") && !rec["answer"].is_null()) {
          const json& a = rec["answer"];
          RLEIF_CHECK(a.is_string() || a.is_number(), loc.str(), ": field 'answer' must be a string or a number, got ",
                      a.dump().substr(0, 80));
          s.answer = a.is_string() ? a.get<std::string>() : a.dump();
        }
      }
      RLEIF_CHECK(!trim(s.instruction).empty(), loc.str(), ": the instruction is empty");
      auto [it, fresh] = id_lines.emplace(s.id, loc.line);
      RLEIF_CHECK(fresh, loc.str(), ": seed id '", s.id, "' repeats line ", it->second, "; ids must be unique");
      out.push_back(std::move(s));
    }
  }
  if (opts.limit > 0 && static_cast<int64_t>(out.size()) > opts.limit) out.resize(static_cast<size_t>(opts.limit));
  RLEIF_CHECK(!out.empty(), "seeds: ", opts.path.empty() ? std::string("no seeds") : opts.path + " has no records");
  return out;
}

}  // namespace rleif::evol
