// Deterministic, platform-independent randomness for evol. Every random choice is derived from a
// hash of what identifies it (run seed, item id, round, variant), never from completion order, so a
// resumed or re-ordered run makes the same choices. std:: distributions are not used: their output
// differs between standard libraries.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace rleif::evol {

// SplitMix64 finaliser (Steele et al. 2014): a strong 64-bit mixer.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a 64 over bytes, then mixed; stable across runs and machines.
inline uint64_t hash_bytes(std::string_view s, uint64_t seed = 0) {
  uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return mix64(h);
}

// Combines hashes/values into one seed: hash_combine(seed, a, b, ...).
inline uint64_t hash_combine(uint64_t h) { return h; }
template <class... Rest>
uint64_t hash_combine(uint64_t h, uint64_t v, Rest... rest) {
  return hash_combine(mix64(h ^ mix64(v + 0x632be59bd9b4e019ULL)), static_cast<uint64_t>(rest)...);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_++ * 0x9e3779b97f4a7c15ULL + 1); }
  // Uniform integer in [lo, hi] (inclusive), by rejection so every value is equally likely.
  int64_t uniform(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return lo + static_cast<int64_t>(x % span);
  }
  // Uniform double in [0, 1).
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool bernoulli(double p) { return uniform01() < p; }
  // Index drawn with probability proportional to weights (all >= 0, not all 0).
  size_t weighted(const std::vector<double>& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double r = uniform01() * total;
    for (size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    for (size_t i = weights.size(); i-- > 0;)
      if (weights[i] > 0) return i;
    return 0;
  }

 private:
  uint64_t state_;
};

}  // namespace rleif::evol
