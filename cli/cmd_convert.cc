// rleif convert: import checkpoints from other formats into a Hugging Face model directory.
//   rleif convert llama2c --model stories260K.bin --tokenizer tok512.bin --out models/stories260K
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "model/llama2c.h"

namespace rleif::cli {
namespace {

struct Llama2cArgs {
  std::string model;      // llama2.c version-0 checkpoint (model.bin)
  std::string tokenizer;  // llama2.c tokenizer.bin matching the checkpoint's vocab_size
  std::string out;        // output directory, replaced atomically
};

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
        return [a, l2c]() {
          if (l2c->parsed()) {
            model::convert_llama2c(a->model, a->tokenizer, a->out);
            std::cout << a->out << "\n";
          }
          return 0;
        };
      }};
}

RLEIF_COMMAND(convert, make_command());

}  // namespace
}  // namespace rleif::cli
