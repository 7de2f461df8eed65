#include "train/evaluate.h"

#include <algorithm>
#include <numeric>

#include "core/answer.h"
#include "core/strings.h"
#include "model/generate.h"

namespace rleif::train {

json EvalRow::to_json() const {
  return json{{"id", id},
              {"predicted", predicted ? json(*predicted) : json(nullptr)},
              {"truth", truth},
              {"correct", correct},
              {"finish_reason", finish_reason},
              {"tokens", tokens},
              {"completion", completion}};
}

std::vector<EvalProblem> load_eval_problems(const std::string& path, int64_t limit) {
  std::vector<EvalProblem> out;
  JsonlReader reader(path);
  json rec;
  SourceLoc loc;
  while ((limit <= 0 || static_cast<int64_t>(out.size()) < limit) && reader.next(rec, loc)) {
    EvalProblem p;
    for (const char* k : {"prompt", "question", "instruction", "problem"})
      if (rec.contains(k)) {
        p.question = get_field<std::string>(rec, k, loc, "a string");
        break;
      }
    RLEIF_CHECK(!p.question.empty(), loc.str(),
                ": no question; expected one of the fields 'prompt', 'question', 'instruction' or 'problem'");
    if (rec.contains("answer")) {
      const json& a = rec["answer"];
      if (a.is_number_integer()) p.truth = std::to_string(a.get<int64_t>());
      else if (a.is_number()) p.truth = a.dump();
      else if (a.is_string()) {
        // A whole solution (GSM8K: "... #### 18") gives its final answer; a bare answer stays.
        auto extracted = extract_answer(a.get<std::string>());
        p.truth = extracted ? *extracted : trim(a.get<std::string>());
      } else {
        RLEIF_FAIL(loc.str(), ": field 'answer' must be a number or a string, got ", a.dump().substr(0, 80));
      }
    } else {
      for (const char* k : {"response", "solution"})
        if (rec.contains(k)) {
          auto extracted = extract_answer(get_field<std::string>(rec, k, loc, "a string"));
          RLEIF_CHECK(extracted, loc.str(), ": field '", k,
                      "' has no final answer ('The answer is: N' or '#### N'); give an 'answer' field");
          p.truth = *extracted;
          break;
        }
    }
    RLEIF_CHECK(!p.truth.empty(), loc.str(), ": no reference answer; expected 'answer', 'response' or 'solution'");
    if (rec.contains("id")) p.id = rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump();
    else p.id = std::to_string(loc.line);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<int64_t> stop_token_ids(const Tokenizer& tok, const model::ModelConfig& cfg) {
  std::vector<int64_t> ids(cfg.eos_token_ids.begin(), cfg.eos_token_ids.end());
  if (auto e = tok.eos_id()) ids.push_back(*e);
  if (auto e = tok.token_to_id("<|im_end|>")) ids.push_back(*e);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

EvalSummary evaluate_greedy(model::CausalLM& model, const Tokenizer& tok, const std::vector<EvalProblem>& problems,
                            const GreedyEvalOptions& opts, const std::vector<int64_t>& eos_ids,
                            const std::function<void(const EvalRow&)>& on_row) {
  RLEIF_CHECK(opts.batch_size >= 1, "eval batch_size must be >= 1");
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  const size_t n = problems.size();
  std::vector<std::vector<int32_t>> prompts(n);
  for (size_t i = 0; i < n; ++i) prompts[i] = tok.encode(render_prompt(opts.prompt_template, problems[i].question), true);
  // Decode similar lengths together (less padding); report in input order.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prompts[a].size() < prompts[b].size(); });
  std::vector<std::optional<EvalRow>> rows(n);
  size_t next_report = 0;
  EvalSummary sum;
  model::SamplingOptions so;
  so.max_new_tokens = opts.max_new_tokens;
  so.temperature = 0;
  for (size_t start = 0; start < n; start += static_cast<size_t>(opts.batch_size)) {
    const size_t end = std::min(n, start + static_cast<size_t>(opts.batch_size));
    std::vector<std::vector<int32_t>> batch;
    for (size_t k = start; k < end; ++k) batch.push_back(prompts[order[k]]);
    auto gens = model::generate(model, batch, so, eos_ids);
    for (size_t k = start; k < end; ++k) {
      const size_t i = order[k];
      const auto& g = gens[k - start];
      EvalRow r;
      r.id = problems[i].id;
      r.truth = problems[i].truth;
      r.completion = tok.decode(g.tokens, /*skip_special_tokens=*/true);
      size_t cut = std::string::npos;
      for (auto& s : opts.stop) cut = std::min(cut, r.completion.find(s));
      if (cut != std::string::npos) r.completion.resize(cut);
      r.predicted = extract_answer(r.completion);
      r.correct = r.predicted && answers_match(*r.predicted, r.truth);
      r.finish_reason = g.finish_reason;
      r.tokens = static_cast<int64_t>(g.tokens.size());
      ++sum.n;
      sum.correct += r.correct ? 1 : 0;
      sum.tokens += r.tokens;
      rows[i] = std::move(r);
    }
    while (next_report < n && rows[next_report]) {
      if (on_row) on_row(*rows[next_report]);
      rows[next_report].reset();
      ++next_report;
    }
  }
  if (was_training) model->train();
  return sum;
}

}  // namespace rleif::train
