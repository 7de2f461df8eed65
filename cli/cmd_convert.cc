// rleif convert: import checkpoints from other formats into a Hugging Face model directory.
//   rleif convert llama2c --model stories260K.bin --tokenizer tok512.bin --out models/stories260K
//   rleif convert merge --adapter runs/sft_lora/model --out models/sft_merged   (LoRA -> plain model)
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "core/fs.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "model/llama2c.h"
#include "model/lora_io.h"

namespace rleif::cli {
namespace {

struct Llama2cArgs {
  std::string model;      // llama2.c version-0 checkpoint (model.bin)
  std::string tokenizer;  // llama2.c tokenizer.bin matching the checkpoint's vocab_size
  std::string out;        // output directory, replaced atomically
};

struct MergeArgs {
  std::string adapter;           // a LoRA adapter directory (adapter_config.json + adapter_model.safetensors)
  std::string out;               // the merged model directory, replaced atomically
  std::string dtype = "float32"; // stored dtype of the merged weights
};

// The adapter's base with the adapter merged in, written as a plain Hugging Face directory (a causal
// LM, or a reward model for SEQ_CLS / TOKEN_CLS adapters), with the adapter directory's tokenizer and
// rleif metadata files (rleif_prompt.json, rleif_rm.json).
void merge_adapter(const MergeArgs& a) {
  const auto cfg = model::AdapterConfig::load(a.adapter);
  const auto dtype = model::parse_torch_dtype(a.dtype, "--dtype");
  if (cfg.task_type == "CAUSAL_LM") {
    auto m = model::load_causal_lm(a.adapter);
    model::save_causal_lm(m, a.out, a.adapter, dtype);
  } else {
    auto m = model::load_score_model(a.adapter);
    model::save_score_model(m, a.out, a.adapter, dtype, cfg.task_type == "TOKEN_CLS");
  }
  for (const char* f : {"rleif_prompt.json", "rleif_rm.json"})
    if (path_exists(a.adapter + "/" + f)) copy_file(a.adapter + "/" + f, a.out + "/" + f);
}

Command make_command() {
  return Command{
      "convert", "import a checkpoint from another format into a Hugging Face model directory",
      [](CLI::App& app) -> std::function<int()> {
        app.require_subcommand(1, 1);
        auto a = std::make_shared<Llama2cArgs>();
        CLI::App* l2c = app.add_subcommand(
            "llama2c", "karpathy/llama2.c legacy (version 0) model.bin + tokenizer.bin -> config.json, "
                       "model.safetensors, tokenizer.json");
        l2c->add_option("--model", a->model, "llama2.c checkpoint, e.g. stories260K.bin")->required();
        l2c->add_option("--tokenizer", a->tokenizer, "llama2.c tokenizer, e.g. tok512.bin")->required();
        l2c->add_option("--out", a->out, "output model directory (replaced atomically if it exists)")->required();
        auto mg = std::make_shared<MergeArgs>();
        CLI::App* merge = app.add_subcommand(
            "merge", "a LoRA adapter directory (rleif's or PEFT's) merged into its base -> a plain Hugging Face "
                     "model directory");
        merge->add_option("--adapter", mg->adapter, "adapter directory (adapter_config.json names the base)")->required();
        merge->add_option("--out", mg->out, "output model directory (replaced atomically if it exists)")->required();
        merge->add_option("--dtype", mg->dtype, "stored dtype: float32 | bfloat16 | float16");
        return [a, l2c, mg, merge]() {
          if (l2c->parsed()) {
            model::convert_llama2c(a->model, a->tokenizer, a->out);
            std::cout << a->out << "\n";
          }
          if (merge->parsed()) {
            merge_adapter(*mg);
            std::cout << mg->out << "\n";
          }
          return 0;
        };
      }};
}

RLEIF_COMMAND(convert, make_command());

}  // namespace
}  // namespace rleif::cli
