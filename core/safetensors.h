// safetensors files: an mmap reader that validates the header (every offset, size, dtype and
// shape) before any tensor byte is touched, a sharded-directory view, and an atomic writer.
// Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__"?: {str: str}}, then the data buffer.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rleif {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
const char* dtype_name(DType d);       // safetensors spelling: "F32", "BF16", ...
size_t dtype_size(DType d);
// Parses a safetensors dtype name; throws naming `where` for unknown names.
DType parse_dtype(const std::string& name, const std::string& where);

// A validated view of one tensor's bytes inside a mapped file (valid while the file lives).
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const;
};

// One mmapped .safetensors file. The constructor validates everything; errors name the file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  // Throws naming the file and tensor when it is missing.
  const TensorView& get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Drops the pages of tensor `name` from this process's resident set once it has been copied out
  // (madvise MADV_DONTNEED; the data stays valid and is read back from the file if touched again),
  // so loading a model never holds the whole file resident beside the parameters it fills.
  void release(const std::string& name) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The weights of a Hugging Face model directory: model.safetensors, or the shards listed in
// model.safetensors.index.json ("weight_map": {tensor: shard file}).
class SafetensorsDir {
 public:
  explicit SafetensorsDir(const std::string& dir);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // throws naming the directory and tensor
  void release(const std::string& name) const;            // SafetensorsFile::release
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
};

// A tensor to write: bytes are copied out during write_safetensors.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes a .safetensors file atomically (temp + rename), tensors in name order, with metadata.
void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace rleif
