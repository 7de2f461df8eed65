// Helpers for model tests: fixture tensors as torch tensors, max-abs-diff.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace rleif::test {

// Reads tensor `name` from a .safetensors file into a torch tensor (copied).
torch::Tensor load_tensor(const std::string& file, const std::string& name);
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);
// Writes ids [B,T] as a JSON list of lists (the format hf_reference.py reads).
void write_ids_json(const torch::Tensor& ids, const std::string& path);
// The model fixture directory for a case (fixtures/model/<name>).
std::string model_fixture(const std::string& name);

}  // namespace rleif::test
