// The on-disk response cache: a rerun or a resumed run never pays twice for a completed call.
//
// Entries live in one append-only JSONL file, one completion a line:
//   {"key": "<32 hex>", "model": ..., "sample_index": ..., "text": ..., "finish_reason": ..., "usage": {...}}
// The key is a 128-bit FNV-1a hash of the canonical JSON of (model, messages, temperature, top_p,
// max_tokens, stop, sample index); the API key is never part of it. A kill mid-append leaves at most
// a partial last line, which the next open truncates. Only offsets are held in memory; a hit reads
// its line back with pread, so a cache of millions of completions costs megabytes of RAM.
// One process uses a cache file at a time: it is locked (flock) while open.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "evol/teacher.h"

namespace rleif::evol {

class ResponseCache {
 public:
  // Opens (creating) the cache file at `path`; its directory is created when missing.
  explicit ResponseCache(std::string path);
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  static std::string key_for(const std::string& model, const Messages& messages, const CompletionParams& params);

  std::optional<Completion> get(const std::string& key) const;
  // Appends an entry (flushed to the OS before returning; a later entry for the key wins).
  void put(const std::string& key, const std::string& model, int64_t sample_index, const Completion& c);
  size_t size() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t end_ = 0;  // file size: where the next entry goes
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::pair<uint64_t, uint32_t>> index_;  // key -> (offset, length)
};

// Wraps a teacher with a cache: hits are answered at once (cached = true, no tokens billed); misses
// go to the inner teacher and are stored before the caller's callback runs.
class CachingTeacher : public Teacher {
 public:
  CachingTeacher(Teacher& inner, ResponseCache& cache) : inner_(inner), cache_(cache) {}
  void complete_async(const Messages& messages, const CompletionParams& params, CompletionCallback done) override;
  std::string model_id() const override { return inner_.model_id(); }
  TeacherStats stats() const override;

 private:
  Teacher& inner_;
  ResponseCache& cache_;
  mutable std::mutex mu_;
  int64_t hits_ = 0;
};

}  // namespace rleif::evol
