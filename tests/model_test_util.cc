#include "tests/model_test_util.h"

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/safetensors.h"
#include "tests/test_util.h"

namespace rleif::test {

torch::Tensor load_tensor(const std::string& file, const std::string& name) {
  SafetensorsFile f(file);
  const auto& v = f.get(name);
  torch::ScalarType t = v.dtype == DType::I64 ? torch::kInt64 : v.dtype == DType::F32 ? torch::kFloat32 : torch::kFloat64;
  return torch::from_blob(const_cast<uint8_t*>(v.data), v.shape, torch::TensorOptions().dtype(t)).clone();
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

void write_ids_json(const torch::Tensor& ids, const std::string& path) {
  json rows = json::array();
  auto c = ids.to(torch::kInt64).contiguous();
  for (int64_t b = 0; b < c.size(0); ++b) {
    json row = json::array();
    for (int64_t t = 0; t < c.size(1); ++t) row.push_back(c[b][t].item<int64_t>());
    rows.push_back(row);
  }
  write_file_atomic(path, rows.dump());
}

std::string model_fixture(const std::string& name) { return fixtures_dir() + "/model/" + name; }

}  // namespace rleif::test
