// The generation setup `rleif generate` and `rleif bestofn` share, on the one generation stack
// (rollout::Engine): load a policy and its tokenizer, render and encode prompts, seed each record,
// and sample a JSONL file of problems into a JSONL file of samples, resumably.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "rollout/engine.h"

namespace rleif::cli {

struct GenerationOptions {
  std::string field = "prompt";              // input field holding the prompt text; auto = the first present
  std::string prompt_template = "{prompt}";  // text around each prompt; {prompt} is replaced (or a template name)
  bool save_tokens = false;                  // also write token ids and per-token log-probs
  std::string dtype = "float32";
  std::string device = "auto";
  int64_t threads = 0;
  rollout::SamplingParams sampling;
  rollout::EngineOptions engine;

  template <class V>
  void visit(V& v) {
    v.field("field", field, "input field holding the prompt text; auto = the first of prompt, question, instruction, problem");
    v.field("prompt_template", prompt_template,
            "text sent to the model; {prompt} is replaced by the prompt. Or a template name: alpaca | alpaca_cot | "
            "chatml | plain, or auto (the one rleif sft recorded in the model directory, else alpaca)");
    v.field("save_tokens", save_tokens, "also write each sample's token ids and per-token log-probs");
    v.field("dtype", dtype, "parameter dtype: float32 | bfloat16 | float16");
    v.field("device", device, "auto | cpu | cuda | cuda:N (auto: cuda when available)");
    v.field("threads", threads, "intra-op CPU threads; 0 = all cores");
    v.section("sampling", sampling, "how tokens are drawn");
    v.section("engine", engine, "the generation engine");
  }
  void validate() const;  // messages start with "generate: "
};

// A loaded policy: model, tokenizer, stop tokens and the resolved "{prompt}" template text.
struct Policy {
  std::string dir;
  model::CausalLM lm{nullptr};
  std::unique_ptr<Tokenizer> tok;
  std::vector<int64_t> stop_ids;  // the tokenizer's EOS, besides config.json's
  std::string prompt_template;    // with one {prompt}
};

Policy load_policy(const std::string& model_dir, const GenerationOptions& opts);

// A prompt's token ids; a text that encodes to nothing starts from BOS alone (rollout/prompt.h).
// `where` names the prompt in errors.
std::vector<int32_t> encode_prompt(const Policy& p, const std::string& text, const std::string& where);

// Rows long enough for the longest prompt plus max_new_tokens, unless the options say otherwise.
rollout::EngineOptions engine_options(const GenerationOptions& opts, const Policy& p, size_t longest);

// A record's seed: a hash of (run seed, id), so it does not depend on order or on resuming.
int64_t record_seed(int64_t seed, const std::string& id);

struct GenerateFileStats {
  size_t generated = 0;  // records sampled by this call
  size_t skipped = 0;    // records already in the output
};

// Every {"id", <field>} record of `input` becomes one {..the record.., "samples": [{"text", "logprob",
// "finish_reason", "num_tokens"}], "seed"} line of `output`, appended as each finishes. Resumable: ids
// already in the output are skipped (a line cut by a kill is redone), and each record's seed derives
// from (sampling.seed, id), so a resumed run writes what an uninterrupted one would.
GenerateFileStats generate_file(const std::string& model_dir, const GenerationOptions& opts, const std::string& input,
                                const std::string& output);

}  // namespace rleif::cli
