#include "rm/bestofn.h"

#include "core/answer.h"
#include "core/strings.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <utility>

#include "core/error.h"

namespace rleif::rm {
namespace {

// A uniform draw in [0, n): rejection sampling on the raw 64-bit output, because
// std::uniform_int_distribution differs between standard libraries and the numbers must not.
uint64_t below(std::mt19937_64& g, uint64_t n) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % n;  // a multiple of n
  uint64_t x;
  do x = g();
  while (x >= limit);
  return x % n;
}

// One generator per (run seed, problem id, k): a problem's subsets do not depend on the others.
std::mt19937_64 make_rng(int64_t seed, const std::string& id, int64_t k) {
  uint64_t h = 1469598103934665603ULL ^ static_cast<uint64_t>(seed);
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ static_cast<uint64_t>(k)) * 1099511628211ULL;
  std::seed_seq seq{static_cast<uint32_t>(h), static_cast<uint32_t>(h >> 32)};
  return std::mt19937_64(seq);
}

// The j in [0, count) with the largest value(j), ties broken uniformly at random.
template <class Get>
size_t argmax_random(size_t count, const Get& value, std::mt19937_64& g) {
  size_t best = 0, ties = 1;
  double best_v = value(0);
  for (size_t j = 1; j < count; ++j) {
    const double v = value(j);
    if (v > best_v) {
      best = j, best_v = v, ties = 1;
    } else if (v == best_v && below(g, ++ties) == 0) {
      best = j;  // reservoir choice: each of the tied entries ends up chosen with probability 1/ties
    }
  }
  return best;
}

// One problem, prepared: answers as small integers and every scorer's per-sample numbers.
struct Prepared {
  std::vector<int64_t> answer;     // [n] index into group_correct, -1 = no answer
  std::vector<char> correct;       // [n]
  std::vector<char> group_correct; // [answers]
  std::vector<std::vector<double>> pick;    // [labels][n] score ranking the samples (best-of-k)
  std::vector<std::vector<double>> weight;  // [labels][n] vote weight (weighted majority)
};

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The mean of xs and their sample standard deviation (0 for fewer than 2).
std::pair<double, double> mean_and_std(const std::vector<double>& xs) {
  const size_t n = xs.size();
  double sum = 0, sq = 0;
  for (double x : xs) sum += x;
  const double mean = n ? sum / static_cast<double>(n) : 0.0;
  for (double x : xs) sq += (x - mean) * (x - mean);
  return {mean, n > 1 ? std::sqrt(sq / static_cast<double>(n - 1)) : 0.0};
}

// The standard error of the mean of xs: their sample std / sqrt(count).
double standard_error(const std::vector<double>& xs) {
  return xs.empty() ? 0.0 : mean_and_std(xs).second / std::sqrt(static_cast<double>(xs.size()));
}

// A compare entry "A>B" as (A, B); validate() has checked its shape.
std::pair<std::string, std::string> compare_sides(const std::string& c) {
  const size_t at = c.find('>');
  return {c.substr(0, at), c.substr(at + 1)};
}

bool is_prm(const BonScorer& s) {
  for (const auto& p : s.scores)
    for (const auto& x : p)
      if (!x.steps.empty()) return true;
  return false;
}

}  // namespace

void BestOfNOptions::validate() const {
  RLEIF_CHECK(subsamples >= 1, "bestofn: subsamples must be >= 1, got ", subsamples);
  for (int64_t k : ks) RLEIF_CHECK(k >= 1, "bestofn: every entry of ks must be >= 1, got ", k);
  RLEIF_CHECK(!aggregations.empty(), "bestofn: aggregations is empty; give at least one of min, prod, last, mean");
  for (const auto& a : aggregations)
    RLEIF_CHECK(a == "min" || a == "prod" || a == "last" || a == "mean", "bestofn: aggregation '", a,
                "' is not one of min, prod, last, mean");
  RLEIF_CHECK(sequence_weight == "sigmoid" || sequence_weight == "raw", "bestofn: sequence_weight '",
              sequence_weight, "' is not one of sigmoid, raw");
  for (const auto& c : compare) {
    const size_t at = c.find('>');
    RLEIF_CHECK(at != std::string::npos && at > 0 && at + 1 < c.size() && c.find('>', at + 1) == std::string::npos,
                "bestofn: compare entry '", c, "' is not \"A>B\" with two method names (best_of/prm_min>best_of/orm)");
    const auto [a, b] = compare_sides(c);
    for (const std::string& name : {a, b})
      RLEIF_CHECK(name == "pass@k" || name == "majority" || name.rfind("best_of/", 0) == 0 ||
                      name.rfind("weighted/", 0) == 0,
                  "bestofn: compare entry '", c, "' names '", name,
                  "', not a method: pass@k, majority, best_of/<label> or weighted/<label>");
  }
}

double aggregate_step_scores(const std::vector<double>& steps, const std::string& how) {
  if (steps.empty()) return 1.0;
  if (how == "min") return *std::min_element(steps.begin(), steps.end());
  if (how == "last") return steps.back();
  if (how == "prod") {
    double p = 1;
    for (double s : steps) p *= s;
    return p;
  }
  if (how == "mean") {
    double s = 0;
    for (double x : steps) s += x;
    return s / static_cast<double>(steps.size());
  }
  RLEIF_FAIL("bestofn: aggregation '", how, "' is not one of min, prod, last, mean");
}

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  RLEIF_CHECK(n >= 1 && c >= 0 && c <= n && k >= 1 && k <= n, "pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n=",
              n, " c=", c, " k=", k);
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  if (k == 1) return static_cast<double>(c) / static_cast<double>(n);  // exact, as the product is not
  double none = 1.0;          // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
  for (int64_t i = n - c + 1; i <= n; ++i) none *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - none;
}

std::vector<std::string> scorer_labels(const BestOfNInputs& in, const BestOfNOptions& opts) {
  std::vector<std::string> labels;
  for (const auto& s : in.scorers) {
    if (is_prm(s))
      for (const auto& a : opts.aggregations) labels.push_back(s.name + "_" + a);
    else
      labels.push_back(s.name);
  }
  return labels;
}

const BonMethod* BestOfNResult::find(const std::string& name) const {
  for (const auto& m : methods)
    if (m.name == name) return &m;
  return nullptr;
}

BestOfNResult run_bestofn(const BestOfNInputs& in, const BestOfNOptions& opts) {
  opts.validate();
  RLEIF_CHECK(!in.problems.empty(), "bestofn: no problems to evaluate");
  // Checks, and n = the smallest sample count.
  int64_t n = std::numeric_limits<int64_t>::max();
  std::string n_id;
  for (const auto& p : in.problems) {
    RLEIF_CHECK(!p.samples.empty(), "bestofn: problem '", p.id, "' has no samples");
    if (static_cast<int64_t>(p.samples.size()) < n) n = static_cast<int64_t>(p.samples.size()), n_id = p.id;
  }
  for (size_t s = 0; s < in.scorers.size(); ++s) {
    const auto& sc = in.scorers[s];
    RLEIF_CHECK(!sc.name.empty(), "bestofn: scorer ", s, " has no name");
    for (size_t t = 0; t < s; ++t)
      RLEIF_CHECK(in.scorers[t].name != sc.name, "bestofn: two scorers are named '", sc.name, "'; name each once");
    RLEIF_CHECK(sc.scores.size() == in.problems.size(), "bestofn: scorer '", sc.name, "' scores ", sc.scores.size(),
                " problems but there are ", in.problems.size());
    for (size_t p = 0; p < in.problems.size(); ++p) {
      RLEIF_CHECK(sc.scores[p].size() == in.problems[p].samples.size(), "bestofn: scorer '", sc.name,
                  "' has ", sc.scores[p].size(), " scores for problem '", in.problems[p].id, "' which has ",
                  in.problems[p].samples.size(), " samples");
      for (const auto& x : sc.scores[p]) {
        bool finite = std::isfinite(x.score);
        for (double v : x.steps) finite = finite && std::isfinite(v);
        RLEIF_CHECK(finite, "bestofn: scorer '", sc.name, "' gives a non-finite score for problem '",
                    in.problems[p].id, "'");
      }
    }
  }
  BestOfNResult res;
  res.n = n;
  res.problems = static_cast<int64_t>(in.problems.size());
  res.subsamples = opts.subsamples;
  res.seed = opts.seed;
  if (opts.ks.empty()) {
    for (int64_t k = 1; k < n; k *= 2) res.k.push_back(k);
    res.k.push_back(n);
  } else {
    res.k = opts.ks;
    std::sort(res.k.begin(), res.k.end());
    res.k.erase(std::unique(res.k.begin(), res.k.end()), res.k.end());
    RLEIF_CHECK(res.k.back() <= n, "bestofn: k=", res.k.back(), " exceeds the ", n, " samples of problem '", n_id,
                "'; give ks no larger than the smallest sample count");
  }

  // Labels and their per-sample numbers.
  const std::vector<std::string> labels = scorer_labels(in, opts);
  struct Source {
    const BonScorer* scorer;
    std::string aggregation;  // "" = sequence score
  };
  std::vector<Source> sources;
  for (const auto& s : in.scorers) {
    if (is_prm(s))
      for (const auto& a : opts.aggregations) sources.push_back({&s, a});
    else
      sources.push_back({&s, ""});
  }
  std::vector<Prepared> prep(in.problems.size());
  for (size_t p = 0; p < in.problems.size(); ++p) {
    const auto& prob = in.problems[p];
    Prepared& q = prep[p];
    std::map<std::string, int64_t> ids;
    for (const auto& s : prob.samples) {
      q.correct.push_back(s.correct ? 1 : 0);
      if (s.answer.empty()) {
        q.answer.push_back(-1);
        continue;
      }
      auto [it, fresh] = ids.emplace(s.answer, static_cast<int64_t>(ids.size()));
      if (fresh) q.group_correct.push_back(s.correct ? 1 : 0);
      RLEIF_CHECK(q.group_correct[it->second] == (s.correct ? 1 : 0), "bestofn: problem '", prob.id,
                  "': samples with the answer '", s.answer,
                  "' differ in correctness; correctness must follow from the normalised answer");
      q.answer.push_back(it->second);
    }
    for (const auto& src : sources) {
      std::vector<double> pick, weight;
      for (const auto& x : src.scorer->scores[p]) {
        if (src.aggregation.empty()) {
          pick.push_back(x.score);
          weight.push_back(opts.sequence_weight == "sigmoid" ? sigmoid(x.score) : x.score);
        } else {
          const double a = aggregate_step_scores(x.steps, src.aggregation);
          pick.push_back(a);
          weight.push_back(a);
        }
      }
      q.pick.push_back(std::move(pick));
      q.weight.push_back(std::move(weight));
    }
  }

  // acc[m][ki][r]: number of problems method m gets right in repeat r at k = res.k[ki].
  const size_t L = labels.size(), K = res.k.size(), S = static_cast<size_t>(opts.subsamples);
  const size_t M = 2 + 2 * L;  // pass@k, majority, then best_of and weighted per label
  std::vector<std::vector<std::vector<double>>> acc(M, std::vector<std::vector<double>>(K, std::vector<double>(S, 0.0)));
  // per[m][ki][p]: problem p's accuracy under method m at k = res.k[ki] (mean over its subsets).
  std::vector<std::vector<std::vector<double>>> per(M, std::vector<std::vector<double>>(K, std::vector<double>(in.problems.size(), 0.0)));
  std::vector<double> exact_pass(K, 0.0);
  std::vector<size_t> perm;
  std::vector<double> votes;
  std::vector<int64_t> touched;
  for (size_t p = 0; p < in.problems.size(); ++p) {
    const Prepared& q = prep[p];
    const size_t np = q.answer.size();
    int64_t c = 0;
    for (char x : q.correct) c += x;
    res.mixed_problems += (c > 0 && c < static_cast<int64_t>(np)) ? 1 : 0;
    votes.assign(q.group_correct.size(), 0.0);
    for (size_t ki = 0; ki < K; ++ki) {
      const size_t k = static_cast<size_t>(res.k[ki]);
      const double pk = pass_at_k(static_cast<int64_t>(np), c, res.k[ki]);
      exact_pass[ki] += pk;
      per[0][ki][p] = pk;
      std::mt19937_64 g = make_rng(opts.seed, in.problems[p].id, res.k[ki]);
      perm.resize(np);
      for (size_t i = 0; i < np; ++i) perm[i] = i;
      for (size_t r = 0; r < S; ++r) {
        // A uniform k-subset: partial Fisher-Yates (uniform whatever order perm is left in).
        for (size_t j = 0; j < k; ++j) std::swap(perm[j], perm[j + below(g, np - j)]);
        bool any = false;
        for (size_t j = 0; j < k; ++j) any = any || q.correct[perm[j]];
        acc[0][ki][r] += any ? 1.0 : 0.0;
        // Voting: weight 1 (majority) or the scorer's weight; the winning answer's correctness.
        auto vote = [&](const std::vector<double>* w) -> double {
          touched.clear();
          for (size_t j = 0; j < k; ++j) {
            const int64_t a = q.answer[perm[j]];
            if (a < 0) continue;
            if (votes[a] == 0.0 && std::find(touched.begin(), touched.end(), a) == touched.end()) touched.push_back(a);
            votes[a] += w ? (*w)[perm[j]] : 1.0;
          }
          if (touched.empty()) return 0.0;  // no sample gave an answer
          const size_t win = argmax_random(touched.size(), [&](size_t t) { return votes[touched[t]]; }, g);
          const double right = q.group_correct[touched[win]];
          for (int64_t a : touched) votes[a] = 0.0;
          return right;
        };
        auto count = [&](size_t m, double right) {
          acc[m][ki][r] += right;
          per[m][ki][p] += right;
        };
        count(1, vote(nullptr));
        for (size_t l = 0; l < L; ++l) {
          const auto& pick = q.pick[l];
          const size_t best = argmax_random(k, [&](size_t j) { return pick[perm[j]]; }, g);
          count(2 + 2 * l, q.correct[perm[best]]);
          count(3 + 2 * l, vote(&q.weight[l]));
        }
      }
      for (size_t m = 1; m < M; ++m) per[m][ki][p] /= static_cast<double>(S);
    }
  }

  // Within-problem discrimination of each label: (right, wrong) pairs of the same problem.
  for (size_t l = 0; l < L; ++l) {
    double won = 0;
    int64_t pairs = 0;
    for (const Prepared& q : prep) {
      const auto& pick = q.pick[l];
      for (size_t i = 0; i < pick.size(); ++i) {
        if (!q.correct[i]) continue;
        for (size_t j = 0; j < pick.size(); ++j) {
          if (q.correct[j]) continue;
          won += pick[i] > pick[j] ? 1.0 : pick[i] == pick[j] ? 0.5 : 0.0;
          ++pairs;
        }
      }
    }
    res.discrimination.push_back({labels[l], pairs ? won / static_cast<double>(pairs) : NAN, pairs});
  }

  const double P = static_cast<double>(in.problems.size());
  std::vector<std::string> names{"pass@k", "majority"};
  for (const auto& l : labels) names.push_back("best_of/" + l), names.push_back("weighted/" + l);
  for (size_t m = 0; m < M; ++m) {
    BonMethod bm{names[m], {}, {}, {}};
    for (size_t ki = 0; ki < K; ++ki) {
      // On counts of problems (whole numbers, so equal repeats give exactly 0), then divided by P.
      const auto [mean, sd] = mean_and_std(acc[m][ki]);
      bm.mean.push_back(m == 0 ? exact_pass[ki] / P : mean / P);  // pass@k: the exact unbiased estimate
      bm.stddev.push_back(sd / P);
      bm.sem.push_back(standard_error(per[m][ki]));
    }
    res.methods.push_back(std::move(bm));
  }

  // Paired differences, problem by problem.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& c : opts.compare) pairs.push_back(compare_sides(c));
  if (opts.compare.empty()) {
    for (const auto& l : labels) pairs.emplace_back("best_of/" + l, "majority");
    for (const auto& l : labels) pairs.emplace_back("weighted/" + l, "best_of/" + l);
    for (size_t i = 0; i < L; ++i)
      for (size_t j = i + 1; j < L; ++j) pairs.emplace_back("best_of/" + labels[i], "best_of/" + labels[j]);
  }
  auto index_of = [&](const std::string& name) {
    for (size_t m = 0; m < M; ++m)
      if (names[m] == name) return m;
    RLEIF_FAIL("bestofn: compare names the method '", name, "', which this run does not have; it has ",
               join(names, ", "));
  };
  for (const auto& [a, b] : pairs) {
    const size_t ia = index_of(a), ib = index_of(b);
    BonPaired bp{a, b, {}, {}, {}, {}};
    std::vector<double> d(in.problems.size());
    for (size_t ki = 0; ki < K; ++ki) {
      int64_t wins = 0, losses = 0;
      for (size_t p = 0; p < d.size(); ++p) {
        d[p] = per[ia][ki][p] - per[ib][ki][p];
        wins += d[p] > 0, losses += d[p] < 0;
      }
      bp.diff.push_back(mean_and_std(d).first);
      bp.se.push_back(standard_error(d));
      bp.wins.push_back(wins);
      bp.losses.push_back(losses);
    }
    res.paired.push_back(std::move(bp));
  }
  return res;
}

}  // namespace rleif::rm
