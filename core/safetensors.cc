#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "core/jsonl.h"

namespace rleif {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2},   {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeInfo& info(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i;
  RLEIF_FAIL("internal: unknown DType value ", static_cast<int>(d));
}

// The Python library refuses headers above 100 MB; a larger length is a corrupt or foreign file.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// numel * element size with overflow checks; false when it does not fit in size_t.
bool checked_nbytes(const std::vector<int64_t>& shape, size_t elem, size_t& out) {
  size_t n = elem;
  for (int64_t d : shape) {
    auto du = static_cast<size_t>(d);
    if (du != 0 && n > std::numeric_limits<size_t>::max() / du) return false;
    n *= du;
  }
  out = n;
  return true;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Parses one tensor entry of the header; `data_size` is the byte length of the data buffer. Returns
// the view with `data` unset and the entry's begin offset in `begin_out`.
TensorView parse_entry(const std::string& path, const std::string& name, const json& e, size_t data_size,
                       size_t& begin_out) {
  std::string where = str(path, ": tensor '", name, "'");
  RLEIF_CHECK(e.is_object(), where, ": header entry must be an object with dtype, shape and data_offsets, got ",
              e.dump().substr(0, 80));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    RLEIF_CHECK(e.contains(key), where, ": header entry has no '", key, "'; the file is not a valid safetensors file");
  RLEIF_CHECK(e["dtype"].is_string(), where, ": 'dtype' must be a string, got ", e["dtype"].dump());
  TensorView t;
  t.name = name;
  t.dtype = parse_dtype(e["dtype"].get<std::string>(), where);
  const json& shape = e["shape"];
  RLEIF_CHECK(shape.is_array(), where, ": 'shape' must be a list of non-negative integers, got ", shape.dump());
  for (const json& d : shape) {
    RLEIF_CHECK(d.is_number_integer() && (d.is_number_unsigned() || d.get<int64_t>() >= 0), where,
                ": 'shape' must be a list of non-negative integers, got ", shape.dump());
    RLEIF_CHECK(d.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where,
                ": shape dimension ", d.dump(), " is too large");
    t.shape.push_back(d.get<int64_t>());
  }
  const json& off = e["data_offsets"];
  RLEIF_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
              where, ": 'data_offsets' must be [begin, end] with non-negative integers, got ", off.dump());
  uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
  RLEIF_CHECK(begin <= end, where, ": data_offsets [", begin, ", ", end, "] have begin after end");
  RLEIF_CHECK(end <= data_size, where, ": data_offsets [", begin, ", ", end, "] run past the end of the data (",
              data_size, " bytes); the file is truncated or its header is corrupt");
  size_t expected = 0;
  RLEIF_CHECK(checked_nbytes(t.shape, dtype_size(t.dtype), expected), where, ": shape ", shape_str(t.shape),
              " of ", dtype_name(t.dtype), " overflows the addressable size");
  RLEIF_CHECK(end - begin == expected, where, ": data_offsets [", begin, ", ", end, "] hold ", end - begin,
              " bytes but shape ", shape_str(t.shape), " of ", dtype_name(t.dtype), " needs ", expected,
              " bytes");
  t.nbytes = expected;
  begin_out = static_cast<size_t>(begin);
  return t;
}

}  // namespace

const char* dtype_name(DType d) { return info(d).name; }
size_t dtype_size(DType d) { return info(d).size; }

DType parse_dtype(const std::string& name, const std::string& where) {
  for (const auto& i : kDTypes)
    if (name == i.name) return i.dtype;
  std::string known;
  for (const auto& i : kDTypes) known += (known.empty() ? "" : ", ") + std::string(i.name);
  RLEIF_FAIL(where, ": unsupported dtype '", name, "' (supported: ", known, ")");
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  RLEIF_CHECK(fd >= 0, path, ": cannot open safetensors file (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    RLEIF_FAIL(path, ": not a regular file");
  }
  auto file_size = static_cast<size_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    RLEIF_FAIL(path, ": file is ", file_size, " bytes, too short for a safetensors file (needs an 8-byte header "
               "length); the file is truncated or not a safetensors file");
  }
  void* m = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);
  RLEIF_CHECK(m != MAP_FAILED, path, ": cannot mmap (", std::strerror(map_errno), ")");
  map_ = m;
  map_size_ = file_size;
  // Until the constructor finishes the destructor will not run, so unmap on any validation error.
  try {
    const auto* base = static_cast<const uint8_t*>(map_);
    uint64_t n = read_u64_le(base);
    RLEIF_CHECK(n <= kMaxHeaderBytes, path, ": header length ", n, " is implausible (limit ", kMaxHeaderBytes,
                " bytes); the file is corrupt or not a safetensors file");
    RLEIF_CHECK(8 + n <= file_size, path, ": header length ", n, " runs past the end of the ", file_size,
                "-byte file; the file is truncated or not a safetensors file");
    json header;
    try {
      header = json::parse(base + 8, base + 8 + n);
    } catch (const json::parse_error& e) {
      RLEIF_FAIL(path, ": header is not valid JSON (", e.what(), "); the file is corrupt or not a safetensors file");
    }
    RLEIF_CHECK(header.is_object(), path, ": header must be a JSON object of tensors, got ",
                header.dump().substr(0, 80));
    size_t data_size = file_size - 8 - static_cast<size_t>(n);
    const uint8_t* data = base + 8 + n;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        RLEIF_CHECK(it->is_object(), path, ": '__metadata__' must be an object of strings, got ",
                    it->dump().substr(0, 80));
        for (auto m2 = it->begin(); m2 != it->end(); ++m2) {
          RLEIF_CHECK(m2->is_string(), path, ": '__metadata__' value for '", m2.key(), "' must be a string, got ",
                      m2->dump().substr(0, 80));
          metadata_[m2.key()] = m2->get<std::string>();
        }
        continue;
      }
      size_t begin = 0;
      TensorView t = parse_entry(path, it.key(), *it, data_size, begin);
      t.data = data + begin;
      tensors_.emplace(it.key(), std::move(t));
    }
    // Overlapping byte ranges mean two tensors alias each other: a corrupt or hand-crafted file.
    // Empty tensors occupy no bytes and cannot overlap anything.
    std::vector<const TensorView*> order;
    for (auto& [name, t] : tensors_)
      if (t.nbytes > 0) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) { return a->data < b->data; });
    for (size_t i = 1; i < order.size(); ++i) {
      const TensorView* a = order[i - 1];
      const TensorView* b = order[i];
      size_t a0 = static_cast<size_t>(a->data - data), b0 = static_cast<size_t>(b->data - data);
      RLEIF_CHECK(a0 + a->nbytes <= b0, path, ": tensors '", a->name, "' (bytes ", a0, "..", a0 + a->nbytes,
                  ") and '", b->name, "' (bytes ", b0, "..", b0 + b->nbytes, ") overlap; the header is corrupt");
    }
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return tensors_.count(name) > 0; }

const TensorView& SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  RLEIF_CHECK(it != tensors_.end(), path_, ": no tensor named '", name, "' (the file has ", tensors_.size(),
              " tensors)");
  return it->second;
}

void SafetensorsFile::release(const std::string& name) const {
  const TensorView& t = get(name);
  if (t.nbytes == 0) return;
  // Whole pages only: the pages a tensor shares with its neighbours stay (harmless if they do not:
  // a private read-only mapping reads dropped pages back from the file).
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(t.data) + t.nbytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advice: failure is harmless
}

SafetensorsDir::SafetensorsDir(const std::string& dir) : dir_(dir) {
  const std::string single = dir + "/model.safetensors";
  const std::string ipath = dir + "/model.safetensors.index.json";
  if (path_exists(single)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const auto& n : files_.back()->names()) where_[n] = files_.back().get();
    return;
  }
  RLEIF_CHECK(path_exists(ipath), dir, ": no model.safetensors or model.safetensors.index.json; "
              "is this a Hugging Face model directory with safetensors weights?");
  json j;
  try {
    j = json::parse(read_file(ipath));
  } catch (const json::parse_error& e) {
    RLEIF_FAIL(ipath, ": not valid JSON (", e.what(), ")");
  }
  RLEIF_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), ipath,
              ": expected an object with \"weight_map\": {tensor name: shard file}");
  std::map<std::string, const SafetensorsFile*> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    RLEIF_CHECK(it->is_string(), ipath, ": weight_map entry for '", it.key(), "' must be a shard file name, got ",
                it->dump().substr(0, 80));
    std::string shard = it->get<std::string>();
    RLEIF_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard != "..", ipath,
                ": weight_map entry for '", it.key(), "' names '", shard,
                "'; shard files must be plain file names inside the model directory");
    auto found = shards.find(shard);
    if (found == shards.end()) {
      const std::string sp = dir + "/" + shard;
      RLEIF_CHECK(path_exists(sp), ipath, ": shard '", shard, "' (holding tensor '", it.key(),
                  "') is missing from ", dir, "; download or copy every shard listed in the index");
      files_.push_back(std::make_unique<SafetensorsFile>(sp));
      found = shards.emplace(shard, files_.back().get()).first;
    }
    RLEIF_CHECK(found->second->contains(it.key()), ipath, ": tensor '", it.key(), "' is listed in shard '", shard,
                "' but ", found->second->path(), " does not contain it; the index and shards disagree");
    where_[it.key()] = found->second;
  }
}

std::vector<std::string> SafetensorsDir::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

bool SafetensorsDir::contains(const std::string& name) const { return where_.count(name) > 0; }

const TensorView& SafetensorsDir::get(const std::string& name) const {
  auto it = where_.find(name);
  RLEIF_CHECK(it != where_.end(), dir_, ": the model weights have no tensor named '", name, "'");
  return it->second->get(name);
}

void SafetensorsDir::release(const std::string& name) const {
  auto it = where_.find(name);
  RLEIF_CHECK(it != where_.end(), dir_, ": the model weights have no tensor named '", name, "'");
  it->second->release(name);
}

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorData*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorData* a, const TensorData* b) { return a->name < b->name; });
  // nlohmann's ordered_json keeps insertion order, so the header lists tensors in file order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorData& t = *order[i];
    RLEIF_CHECK(!t.name.empty() && t.name != "__metadata__", path, ": invalid tensor name '", t.name, "'");
    RLEIF_CHECK(i == 0 || order[i - 1]->name != t.name, path, ": tensor '", t.name, "' given twice");
    for (int64_t d : t.shape)
      RLEIF_CHECK(d >= 0, path, ": tensor '", t.name, "' has negative dimension in shape ", shape_str(t.shape));
    size_t expected = 0;
    RLEIF_CHECK(checked_nbytes(t.shape, dtype_size(t.dtype), expected), path, ": tensor '", t.name,
                "' shape overflows");
    RLEIF_CHECK(t.nbytes == expected, path, ": tensor '", t.name, "' has ", t.nbytes, " bytes but shape ",
                shape_str(t.shape), " of ", dtype_name(t.dtype), " needs ", expected);
    RLEIF_CHECK(t.nbytes == 0 || t.data, path, ": tensor '", t.name, "' has no data pointer");
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string h = header.dump();
  // Like the Python library: pad with spaces so the data buffer starts 8-byte aligned.
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xff);
  prefix += h;
  // Streamed to a temporary file and renamed, so a checkpoint is never held twice in memory and a
  // reader sees the old file or the new one, never a mix (the same protocol as write_file_atomic).
  // String work rather than std::filesystem::path, whose calls may bind to libtorch.so's copies.
  const size_t slash = path.rfind('/');
  const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  make_dirs(parent);
  std::string tmp = str(path, ".tmp.", ::getpid(), ".", std::random_device{}());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  RLEIF_CHECK(fd >= 0, tmp, ": cannot create (", write_error(errno), ")");
  auto put = [&](const void* data, size_t n) {
    const char* c = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t k = ::write(fd, c, n);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        RLEIF_FAIL(path, ": write failed (", write_error(e), ")");
      }
      c += k;
      n -= static_cast<size_t>(k);
    }
  };
  put(prefix.data(), prefix.size());
  for (const TensorData* t : order) put(t->data, t->nbytes);
  int sync_rc = ::fsync(fd);
  int sync_errno = errno;
  if (::close(fd) != 0 && sync_rc == 0) {
    sync_rc = -1;
    sync_errno = errno;
  }
  if (sync_rc != 0) {
    ::unlink(tmp.c_str());
    RLEIF_FAIL(path, ": fsync failed (", write_error(sync_errno), ")");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    RLEIF_FAIL(path, ": rename from temporary file failed (", write_error(e), ")");
  }
  fsync_path(parent);
}

}  // namespace rleif
