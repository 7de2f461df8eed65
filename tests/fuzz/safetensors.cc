#include "core/error.h"
#include "core/safetensors.h"
#include "tests/fuzz/targets.h"

namespace rleif::fuzz {

// A .safetensors file: the header is validated, then every tensor's bytes are read (an offset the
// validator missed shows as an out-of-bounds read under ASan).
int safetensors_header(const uint8_t* data, size_t size) {
  const std::string& path = scratch_file(std::string(reinterpret_cast<const char*>(data), size), ".safetensors");
  try {
    SafetensorsFile f(path);
    unsigned sum = 0;
    for (const auto& name : f.names()) {
      const TensorView& t = f.get(name);
      size_t expect = static_cast<size_t>(t.numel()) * dtype_size(t.dtype);
      RLEIF_CHECK(expect == t.nbytes, "fuzz: ", name, " has ", t.nbytes, " bytes for ", expect, " expected");
      for (size_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
    }
    (void)f.metadata();
    return static_cast<int>(sum & 0);
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace rleif::fuzz
