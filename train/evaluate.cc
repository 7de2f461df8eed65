#include "train/evaluate.h"

#include <algorithm>
#include <optional>

#include "core/answer.h"
#include "core/strings.h"
#include "rollout/engine.h"

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

std::vector<EvalProblem> load_eval_problems(const std::string& path, int64_t limit, bool require_truth) {
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
    RLEIF_CHECK(!p.truth.empty() || !require_truth, loc.str(),
                ": no reference answer; expected 'answer', 'response' or 'solution'");
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

namespace {
// Scores generated tokens as WizardMath does: decoded without special tokens, cut at the first
// stop string, the final answer extracted and compared with the reference.
EvalRow score_completion(const EvalProblem& problem, const Tokenizer& tok, std::vector<int32_t> tokens,
                         const std::string& finish_reason, const std::vector<std::string>& stop) {
  EvalRow r;
  r.id = problem.id;
  r.truth = problem.truth;
  r.completion = tok.decode(tokens, /*skip_special_tokens=*/true);
  size_t cut = std::string::npos;
  for (auto& s : stop) cut = std::min(cut, r.completion.find(s));
  if (cut != std::string::npos) r.completion.resize(cut);
  r.predicted = extract_answer(r.completion);
  r.correct = r.predicted && answers_match(*r.predicted, r.truth);
  r.finish_reason = finish_reason;
  r.tokens = static_cast<int64_t>(tokens.size());
  return r;
}
}  // namespace

EvalSummary evaluate_greedy(model::CausalLM& model, const Tokenizer& tok, const std::vector<EvalProblem>& problems,
                            const GreedyEvalOptions& opts, const std::vector<int64_t>& eos_ids,
                            const std::function<void(const EvalRow&)>& on_row) {
  RLEIF_CHECK(opts.batch_size >= 1, "eval batch_size is ", opts.batch_size, "; give at least 1");
  RLEIF_CHECK(opts.max_new_tokens >= 1, "eval max_new_tokens is ", opts.max_new_tokens, "; give at least 1");
  EvalSummary sum;
  const size_t n = problems.size();
  if (n == 0) return sum;
  const int64_t model_max = model->cfg.max_position_embeddings > 0 ? model->cfg.max_position_embeddings : 2048;
  rollout::SamplingParams params;
  params.temperature = 0;
  params.seed = 0;  // greedy draws nothing; a fixed seed spares the OS entropy call
  params.stop = opts.stop;
  params.stop_token_ids = eos_ids;
  std::vector<rollout::Request> requests(n);
  int64_t longest = 0;
  for (size_t i = 0; i < n; ++i) {
    auto& r = requests[i];
    r.prompt = tok.encode(render_prompt(opts.prompt_template, problems[i].question), true);
    const int64_t len = static_cast<int64_t>(r.prompt.size());
    RLEIF_CHECK(len >= 1 && len < model_max, "eval: problem '", problems[i].id, "' has a prompt of ", len,
                " tokens but the model takes ", model_max, " positions (max_position_embeddings); shorten or drop it");
    // Generation ends at the model's last position, as vLLM's max_model_len does.
    r.params = params;
    r.params.max_new_tokens = std::min(opts.max_new_tokens, model_max - len);
    longest = std::max(longest, len);
  }
  rollout::EngineOptions eo;
  eo.max_batch = std::min<int64_t>(opts.batch_size, static_cast<int64_t>(n));
  eo.max_len = std::min(model_max, longest + opts.max_new_tokens);

  // A fresh engine per call: its packed weights and KV cache are built from the model as it is now
  // (SFT evaluates the training model between optimizer steps) and freed on return.
  torch::NoGradGuard ng;
  rollout::Engine engine(model, &tok, eo);
  std::vector<std::optional<EvalRow>> rows(n);
  size_t next_report = 0;
  engine.generate(requests, [&](size_t i, const rollout::Completion& c) {
    const rollout::Sample& s = c.samples.at(0);
    std::vector<int32_t> tokens = s.tokens;
    // The engine keeps the EOS token that ended a sample; the completion and its count do not.
    auto is_eos = [&](int32_t id) {
      return std::count(eos_ids.begin(), eos_ids.end(), id) > 0 ||
             std::count(engine.eos_ids().begin(), engine.eos_ids().end(), id) > 0;
    };
    if (s.finish == rollout::FinishReason::stop && !tokens.empty() && is_eos(tokens.back())) tokens.pop_back();
    EvalRow r = score_completion(problems[i], tok, std::move(tokens), enum_name(s.finish), opts.stop);
    ++sum.n;
    sum.correct += r.correct ? 1 : 0;
    sum.tokens += r.tokens;
    rows[i] = std::move(r);
    // Requests are admitted in input order, so rows mostly finish near it; report strictly in order.
    while (next_report < n && rows[next_report]) {
      if (on_row) on_row(*rows[next_report]);
      rows[next_report].reset();
      ++next_report;
    }
  });
  return sum;
}

}  // namespace rleif::train
