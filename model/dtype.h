// The mapping between safetensors dtypes (core/safetensors.h) and LibTorch scalar types, shared by
// the Hugging Face model I/O (model/hf_io.cc) and the trainer's tensor files (train/tensor_io.cc).
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"

namespace rleif::model {

torch::ScalarType to_torch_dtype(DType d);
// Fails naming `what` (a tensor name) when safetensors has no such dtype.
DType to_safetensors_dtype(torch::ScalarType t, const std::string& what);

}  // namespace rleif::model
