// Named tensors to and from .safetensors files (optimizer and RNG state in checkpoints).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rleif::train {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes the tensors (copied to contiguous CPU memory, dtype kept) atomically.
void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {});
// Reads every tensor of a file into CPU tensors that own their memory.
std::map<std::string, torch::Tensor> load_tensors(const std::string& path);

}  // namespace rleif::train
