#include "train/tensor_io.h"

#include <cstring>

#include "core/error.h"
#include "core/safetensors.h"
#include "model/dtype.h"

namespace rleif::train {
using model::to_safetensors_dtype;
using model::to_torch_dtype;

void save_tensors(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;  // CPU contiguous copies live until the write is done
  std::vector<TensorData> data;
  keep.reserve(tensors.size());
  for (auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(torch::kCPU).contiguous());
    const torch::Tensor& c = keep.back();
    data.push_back(TensorData{name, to_safetensors_dtype(c.scalar_type(), name), c.sizes().vec(), c.data_ptr(), c.nbytes()});
  }
  write_safetensors(path, data, metadata);
}

std::map<std::string, torch::Tensor> load_tensors(const std::string& path) {
  SafetensorsFile f(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : f.names()) {
    const TensorView& v = f.get(name);
    torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(to_torch_dtype(v.dtype)));
    RLEIF_CHECK(t.nbytes() == v.nbytes, path, ": tensor '", name, "' holds ", v.nbytes, " bytes for shape ",
                t.sizes(), "; the file is corrupt");
    if (v.nbytes) std::memcpy(t.data_ptr(), v.data, v.nbytes);
    out.emplace(name, std::move(t));
  }
  return out;
}

}  // namespace rleif::train
