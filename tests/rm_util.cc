#include "tests/rm_util.h"

#include "core/fs.h"
#include "evol/math_domain.h"
#include "train/domain_tokenizer.h"

namespace rleif::test {

std::string write_math_tokenizer(const std::string& dir) {
  std::vector<std::string> corpus;
  for (auto& p : evol::generate_problems(300, 7, 1, 4)) {
    corpus.push_back(p.question);
    corpus.push_back(p.solution);
  }
  const std::string path = dir + "/tokenizer.json";
  write_file_atomic(path, train::build_domain_tokenizer(corpus, {}).dump());
  return path;
}

std::string write_tiny_config(const std::string& dir, int layers, int hidden) {
  json c{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 1024},
         {"hidden_size", hidden}, {"intermediate_size", hidden * 2}, {"num_hidden_layers", layers},
         {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 512},
         {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"initializer_range", 0.02},
         {"tie_word_embeddings", false}, {"torch_dtype", "float32"}};
  const std::string path = dir + "/config.json";
  write_file_atomic(path, c.dump(2));
  return path;
}

std::vector<json> math_prm_records(int n, uint64_t seed) {
  std::vector<json> out;
  auto probs = evol::generate_problems(n, seed, 1, 4);
  for (int i = 0; i < n; ++i) {
    const auto& p = probs[static_cast<size_t>(i)];
    std::vector<std::string> steps = evol::solution_steps(p.solution);
    std::vector<int> labels(steps.size(), 1);
    if (i % 2 == 1) {
      const int err = i % p.n_steps;
      steps = evol::solution_steps(evol::corrupt_solution(p, err, seed + static_cast<uint64_t>(i)));
      labels.assign(steps.size(), 1);
      for (size_t s = static_cast<size_t>(err); s < labels.size(); ++s) labels[s] = 0;
    }
    out.push_back(json{{"id", "p" + std::to_string(i)}, {"prompt", p.question}, {"steps", steps}, {"labels", labels}});
  }
  return out;
}

std::vector<json> math_irm_records(int n, int k, uint64_t seed) {
  std::vector<json> out;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> cands;
    for (int s = 1; s <= k; ++s)
      cands.push_back(evol::generate_problem(seed * 1000 + static_cast<uint64_t>(i * k + s), s).question);
    std::vector<int64_t> ranking;
    for (int s = k - 1; s >= 0; --s) ranking.push_back(s);  // more steps = better
    // Present the candidates in a rotated order so position carries no signal.
    std::vector<std::string> shown(static_cast<size_t>(k));
    std::vector<int64_t> rank_shown;
    for (int j = 0; j < k; ++j) shown[static_cast<size_t>((j + i) % k)] = cands[static_cast<size_t>(j)];
    for (int64_t r : ranking) rank_shown.push_back((r + i) % k);
    out.push_back(json{{"seed_id", "s" + std::to_string(i)}, {"candidates", shown}, {"ranking", rank_shown}});
  }
  return out;
}

std::string write_records(const std::string& path, const std::vector<json>& recs) {
  std::string text;
  for (auto& r : recs) text += r.dump() + "\n";
  write_file_atomic(path, text);
  return path;
}

}  // namespace rleif::test
