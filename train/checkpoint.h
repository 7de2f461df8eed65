// Checkpoint directories of a training run: <output_dir>/checkpoints/checkpoint-<step>/, each
// written whole into a temporary directory and renamed into place, so a kill at any moment leaves
// only complete checkpoints; the newest keep_last are kept.
//
// A checkpoint holds the model in Hugging Face layout (config.json, model.safetensors,
// tokenizer.json: `rleif eval --model` and transformers load it as is), optimizer.safetensors,
// rng.safetensors, trainer_state.json (step, data position, counters) and config.yaml (the
// resolved config of the run).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/jsonl.h"

namespace rleif::train {

// What the loop needs to continue exactly where a checkpoint was taken.
struct TrainState {
  int64_t step = 0;        // optimizer steps done
  int64_t epoch = 0;       // epoch of the next micro-batch
  int64_t index = 0;       // position of the next micro-batch within that epoch's order
  int64_t tokens = 0;      // tokens trained on so far
  double elapsed_s = 0;    // training wall time so far (all sessions)
  int64_t total_steps = 0; // the run's length, to detect a changed config on resume
  json to_json() const;
  static TrainState from_json(const json& j, const std::string& where);
};

class Checkpointer {
 public:
  Checkpointer(std::string output_dir, int keep_last);

  std::string dir() const;  // <output_dir>/checkpoints
  // Complete checkpoints, oldest first.
  std::vector<std::string> list() const;
  // The newest complete checkpoint, or "" when there is none.
  std::string latest() const;
  // Removes temporaries left by a run killed while saving.
  void remove_temporaries() const;
  // Writes checkpoint-<step>: `write_model(tmp)` creates the directory tmp with the model files,
  // `fill(tmp)` adds the rest; then the directory is renamed into place and old ones pruned.
  // Returns the checkpoint's path.
  std::string save(int64_t step, const std::function<void(const std::string&)>& write_model,
                   const std::function<void(const std::string&)>& fill) const;

 private:
  std::string output_dir_;
  int keep_last_;
};

}  // namespace rleif::train
