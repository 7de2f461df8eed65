#include "train/model_inputs.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"

namespace rleif::train {
namespace fsys = std::filesystem;

ModelInputs resolve_model_inputs(const std::string& path, const std::string& config, const std::string& tokenizer) {
  ModelInputs in;
  std::string tok_path = tokenizer.empty() ? path : tokenizer;
  if (is_directory(tok_path)) tok_path = (fsys::path(tok_path) / "tokenizer.json").string();
  RLEIF_CHECK(path_exists(tok_path), tok_path, ": no tokenizer.json; set model.tokenizer to the tokenizer to train with");
  in.tokenizer_path = tok_path;
  in.tokenizer_dir = fsys::path(tok_path).parent_path().string();
  if (in.tokenizer_dir.empty()) in.tokenizer_dir = ".";
  in.tok = std::make_unique<Tokenizer>(Tokenizer::from_file(tok_path));
  in.config = path.empty() ? model::ModelConfig::from_json(json::parse(read_file(config), nullptr, false), config)
                           : model::ModelConfig::load(path);
  if (auto e = in.tok->eos_id()) in.eos_id = *e;
  else if (!in.config.eos_token_ids.empty()) in.eos_id = static_cast<int32_t>(in.config.eos_token_ids[0]);
  RLEIF_CHECK(in.eos_id >= 0, tok_path, ": the tokenizer has no EOS token and the model config names none; ",
              "set eos_token_id in config.json");
  RLEIF_CHECK(in.tok->vocab_size() <= in.config.vocab_size, tok_path, ": the tokenizer has ", in.tok->vocab_size(),
              " tokens but the model's vocab_size is ", in.config.vocab_size,
              "; use the model's own tokenizer (or, from scratch, a larger vocab_size)");
  return in;
}

model::ModelConfig scratch_config(model::ModelConfig written, const Tokenizer& tok, int32_t eos_id,
                                  std::optional<int32_t> pad_id) {
  if (written.bos_token_id < 0)
    if (auto b = tok.bos_id()) written.bos_token_id = *b;
  if (written.eos_token_ids.empty()) written.eos_token_ids = {eos_id};
  if (written.pad_token_id < 0 && pad_id) written.pad_token_id = *pad_id;
  return written;
}

}  // namespace rleif::train
