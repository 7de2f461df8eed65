// Dtypes and devices by name: the mapping between safetensors dtypes (core/safetensors.h) and LibTorch
// scalar types, shared by the Hugging Face model I/O (model/hf_io.cc) and the trainer's tensor files
// (train/tensor_io.cc); and the one parser of the dtype and device names configs and flags give, so
// every subcommand accepts the same spellings and fails with the same message.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"

namespace rleif::model {

torch::ScalarType to_torch_dtype(DType d);
// Fails naming `what` (a tensor name) when safetensors has no such dtype.
DType to_safetensors_dtype(torch::ScalarType t, const std::string& what);

// Parameter dtypes by name: float32 (fp32, float) | bfloat16 (bf16) | float16 (fp16, half).
// Fails naming `field` (the config key, e.g. "dtype") and the accepted names.
torch::ScalarType parse_torch_dtype(const std::string& name, const std::string& field);
// The canonical name parse_torch_dtype reads back ("float32", "bfloat16", "float16", "float64").
const char* torch_dtype_name(torch::ScalarType t);

// Devices by name: auto (the first CUDA device when there is one, else the CPU) | cpu | cuda | cuda:N.
// check_device_name only checks the spelling (a config may name a GPU the machine at hand lacks);
// parse_device also resolves auto and fails when the named CUDA device is not visible.
// Both fail naming `field` (the config key, e.g. "train.device") and the accepted names.
void check_device_name(const std::string& name, const std::string& field);
torch::Device parse_device(const std::string& name, const std::string& field);

}  // namespace rleif::model
