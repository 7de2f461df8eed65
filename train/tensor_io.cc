#include "train/tensor_io.h"

#include <cstring>

#include "core/error.h"
#include "core/safetensors.h"

namespace rleif::train {
namespace {

DType to_dtype(torch::ScalarType t, const std::string& name) {
  switch (t) {
    case torch::kFloat64: return DType::F64;
    case torch::kFloat32: return DType::F32;
    case torch::kFloat16: return DType::F16;
    case torch::kBFloat16: return DType::BF16;
    case torch::kInt64: return DType::I64;
    case torch::kInt32: return DType::I32;
    case torch::kInt16: return DType::I16;
    case torch::kInt8: return DType::I8;
    case torch::kUInt8: return DType::U8;
    case torch::kBool: return DType::BOOL;
    default: RLEIF_FAIL("tensor '", name, "' has dtype ", t, ", which safetensors cannot store");
  }
}

torch::ScalarType to_scalar(DType d) {
  switch (d) {
    case DType::F64: return torch::kFloat64;
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
  }
  return torch::kFloat32;
}

}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;  // CPU contiguous copies live until the write is done
  std::vector<TensorData> data;
  keep.reserve(tensors.size());
  for (auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(torch::kCPU).contiguous());
    const torch::Tensor& c = keep.back();
    data.push_back(TensorData{name, to_dtype(c.scalar_type(), name), c.sizes().vec(), c.data_ptr(), c.nbytes()});
  }
  write_safetensors(path, data, metadata);
}

std::map<std::string, torch::Tensor> load_tensors(const std::string& path) {
  SafetensorsFile f(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : f.names()) {
    const TensorView& v = f.get(name);
    torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(to_scalar(v.dtype)));
    RLEIF_CHECK(t.nbytes() == v.nbytes, path, ": tensor '", name, "' holds ", v.nbytes, " bytes for shape ",
                t.sizes(), "; the file is corrupt");
    if (v.nbytes) std::memcpy(t.data_ptr(), v.data, v.nbytes);
    out.emplace(name, std::move(t));
  }
  return out;
}

}  // namespace rleif::train
