#include "rm/bestofn.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/fs.h"

// bestofn.json: BestOfNResult to JSON and back (rleif bestofn writes it; the recipe report reads it).

namespace rleif::rm {

nlohmann::ordered_json BestOfNResult::to_json() const {
  nlohmann::ordered_json j;
  j["n"] = n;
  j["k"] = k;
  nlohmann::ordered_json ms = nlohmann::ordered_json::object();
  for (const auto& m : methods) ms[m.name] = {{"mean", m.mean}, {"std", m.stddev}, {"sem", m.sem}};
  j["methods"] = ms;
  j["problems"] = problems;
  j["subsamples"] = subsamples;
  j["seed"] = seed;
  j["spread"] = spread;
  j["sem"] = sem_is;
  nlohmann::ordered_json pd = nlohmann::ordered_json::array();
  for (const auto& x : paired)
    pd.push_back({{"a", x.a}, {"b", x.b}, {"diff", x.diff}, {"se", x.se}, {"wins", x.wins}, {"losses", x.losses}});
  j["paired"] = pd;
  nlohmann::ordered_json d = nlohmann::ordered_json::object(), pairs = nlohmann::ordered_json::object();
  for (const auto& x : discrimination) {
    d[x.label] = std::isfinite(x.within_problem_auc) ? nlohmann::ordered_json(x.within_problem_auc) : nullptr;
    pairs[x.label] = x.pairs;
  }
  j["within_problem_auc"] = d;
  j["within_problem_pairs"] = pairs;
  j["mixed_problems"] = mixed_problems;
  return j;
}

BestOfNResult BestOfNResult::from_json(const nlohmann::ordered_json& j, const std::string& where) {
  BestOfNResult r;
  try {
    r.n = j.at("n").get<int64_t>();
    r.k = j.at("k").get<std::vector<int64_t>>();
    r.problems = j.at("problems").get<int64_t>();
    r.subsamples = j.at("subsamples").get<int64_t>();
    r.seed = j.at("seed").get<int64_t>();
    for (const auto& [name, m] : j.at("methods").items()) {
      BonMethod bm{name, m.at("mean").get<std::vector<double>>(), m.at("std").get<std::vector<double>>(),
                   m.value("sem", std::vector<double>{})};  // "sem" and "paired": since 2026-12-07
      RLEIF_CHECK(bm.mean.size() == r.k.size() && bm.stddev.size() == r.k.size(), where, ": method '", name,
                  "' has ", bm.mean.size(), " means and ", bm.stddev.size(), " stds for ", r.k.size(),
                  " values of k");
      RLEIF_CHECK(bm.sem.empty() || bm.sem.size() == r.k.size(), where, ": method '", name, "' has ",
                  bm.sem.size(), " sems for ", r.k.size(), " values of k");
      r.methods.push_back(std::move(bm));
    }
    if (j.contains("paired"))
      for (const auto& d : j.at("paired"))
        r.paired.push_back({d.at("a").get<std::string>(), d.at("b").get<std::string>(),
                            d.at("diff").get<std::vector<double>>(), d.at("se").get<std::vector<double>>(),
                            d.at("wins").get<std::vector<int64_t>>(), d.at("losses").get<std::vector<int64_t>>()});
    for (const auto& d : r.paired)
      RLEIF_CHECK(d.diff.size() == r.k.size() && d.se.size() == r.k.size() && d.wins.size() == r.k.size() &&
                      d.losses.size() == r.k.size(),
                  where, ": paired entry '", d.a, ">", d.b, "' needs diff, se, wins and losses for each of the ",
                  r.k.size(), " values of k");
    // Within-problem discrimination (written since 2026-12-06; older files have none).
    if (j.contains("within_problem_auc")) {
      const auto& pairs = j.value("within_problem_pairs", nlohmann::ordered_json::object());
      for (const auto& [label, v] : j.at("within_problem_auc").items())
        r.discrimination.push_back({label, v.is_null() ? NAN : v.get<double>(), pairs.value(label, int64_t{0})});
      r.mixed_problems = j.value("mixed_problems", int64_t{0});
    }
  } catch (const nlohmann::json::exception& e) {
    RLEIF_FAIL(where, ": not a bestofn.json (", e.what(),
               "); expected {\"n\", \"k\", \"methods\": {name: {\"mean\", \"std\"}}, \"problems\", "
               "\"subsamples\", \"seed\"}");
  }
  return r;
}

BestOfNResult BestOfNResult::read(const std::string& path) {
  RLEIF_CHECK(path_exists(path), path, ": no such file; give rleif bestofn's OUT/bestofn.json");
  const std::string text = read_file(path);
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const size_t line =
        1 + static_cast<size_t>(std::count(text.begin(), text.begin() + std::min(e.byte, text.size()), '\n'));
    RLEIF_FAIL(path, ":", line, ": not valid JSON (", e.what(), "); give rleif bestofn's bestofn.json");
  }
  return from_json(j, path);
}

}  // namespace rleif::rm
