#include "model/dtype.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/error.h"

namespace rleif::model {

torch::ScalarType to_torch_dtype(DType d) {
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

DType to_safetensors_dtype(torch::ScalarType t, const std::string& what) {
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
    default: RLEIF_FAIL("tensor '", what, "' has dtype ", t, ", which safetensors cannot store");
  }
}

torch::ScalarType parse_torch_dtype(const std::string& name, const std::string& field) {
  if (name == "float32" || name == "fp32" || name == "float") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return torch::kFloat16;
  RLEIF_FAIL(field, " = '", name, "': not a dtype; expected float32 (or fp32, float), bfloat16 (or bf16), float16 (or fp16, half)");
}

const char* torch_dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    case torch::kFloat64: return "float64";
    default: return "unsupported";
  }
}

namespace {

// The CUDA index of "cuda:N" (-1 for "cuda"); nullopt when `name` is neither.
std::optional<int64_t> cuda_index(const std::string& name) {
  if (name == "cuda") return -1;
  if (name.rfind("cuda:", 0) != 0 || name.size() == 5 || name.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return std::nullopt;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

}  // namespace

void check_device_name(const std::string& name, const std::string& field) {
  RLEIF_CHECK(name == "auto" || name == "cpu" || cuda_index(name), field, " = '", name,
              "': not a device; expected auto, cpu, cuda or cuda:N (N = 0, 1, ...)");
}

torch::Device parse_device(const std::string& name, const std::string& field) {
  check_device_name(name, field);
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  const int64_t index = *cuda_index(name);
  RLEIF_CHECK(torch::cuda::is_available(), field, " = '", name, "': no CUDA device is visible; use cpu (or auto)");
  const int64_t n = static_cast<int64_t>(torch::cuda::device_count());
  RLEIF_CHECK(index < n, field, " = '", name, "': only ", n, " CUDA device(s) visible (cuda:0 to cuda:", n - 1, ")");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(std::max<int64_t>(index, 0)));
}

}  // namespace rleif::model
