#include "evol/response_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"

namespace rleif::evol {
namespace {

// FNV-1a, 128-bit (offset basis and prime from the FNV reference).
std::string fnv1a_128_hex(const std::string& s) {
  using u128 = unsigned __int128;
  const u128 prime = (static_cast<u128>(0x0000000001000000ULL) << 64) | 0x000000000000013BULL;
  u128 h = (static_cast<u128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= prime;
  }
  static const char* hex = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 31; i >= 0; --i) {
    out[static_cast<size_t>(i)] = hex[static_cast<unsigned>(h & 0xf)];
    h >>= 4;
  }
  return out;
}

}  // namespace

std::string ResponseCache::key_for(const std::string& model, const Messages& messages, const CompletionParams& params) {
  json msgs = json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  // nlohmann::json objects are ordered maps: dump() is canonical.
  json k{{"model", model},
         {"messages", msgs},
         {"temperature", params.temperature},
         {"top_p", params.top_p},
         {"max_tokens", params.max_tokens},
         {"stop", params.stop},
         {"sample_index", params.sample_index}};
  return fnv1a_128_hex(k.dump());
}

ResponseCache::ResponseCache(std::string path) : path_(std::move(path)) {
  std::filesystem::path p(path_);
  if (p.has_parent_path()) make_dirs(p.parent_path().string());
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  RLEIF_CHECK(fd_ >= 0, path_, ": cannot open the response cache (", std::strerror(errno), ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    RLEIF_FAIL(path_, ": another process is using this response cache; wait for it, or give this run its own ",
               "teacher.cache_path");
  }
  // Index whole lines, streaming (a cache can be gigabytes); drop a partial last line left by a
  // kill mid-append.
  std::ifstream in(path_, std::ios::binary);
  RLEIF_CHECK(in, path_, ": cannot read the response cache (", std::strerror(errno), ")");
  uint64_t pos = 0;
  size_t line_no = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no '\n' after it: a partial entry
    ++line_no;
    json j = json::parse(line, nullptr, false);
    RLEIF_CHECK(!j.is_discarded() && j.is_object() && j.contains("key") && j["key"].is_string() && j.contains("text"),
                path_, ":", line_no, ": not a response-cache entry; delete the cache file to start it afresh");
    index_[j["key"].get<std::string>()] = {pos, static_cast<uint32_t>(line.size())};
    pos += line.size() + 1;
  }
  off_t size = ::lseek(fd_, 0, SEEK_END);
  if (size >= 0 && static_cast<uint64_t>(size) != pos) {
    RLEIF_CHECK(::ftruncate(fd_, static_cast<off_t>(pos)) == 0, path_, ": cannot truncate a partial last entry (",
                std::strerror(errno), ")");
  }
  end_ = pos;
}

ResponseCache::~ResponseCache() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

std::optional<Completion> ResponseCache::get(const std::string& key) const {
  std::pair<uint64_t, uint32_t> where;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    where = it->second;
  }
  std::string line(where.second, '\0');
  ssize_t n = ::pread(fd_, line.data(), line.size(), static_cast<off_t>(where.first));
  RLEIF_CHECK(n == static_cast<ssize_t>(line.size()), path_, ": short read of a cache entry");
  json j = json::parse(line, nullptr, false);
  RLEIF_CHECK(!j.is_discarded(), path_, ": corrupt cache entry at byte ", where.first);
  Completion c;
  c.text = j.value("text", "");
  c.finish_reason = j.value("finish_reason", "");
  if (j.contains("usage")) {
    c.usage.prompt_tokens = j["usage"].value("prompt_tokens", 0);
    c.usage.completion_tokens = j["usage"].value("completion_tokens", 0);
  }
  c.cached = true;
  return c;
}

void ResponseCache::put(const std::string& key, const std::string& model, int64_t sample_index, const Completion& c) {
  json j{{"key", key},
         {"model", model},
         {"sample_index", sample_index},
         {"text", c.text},
         {"finish_reason", c.finish_reason},
         {"usage", {{"prompt_tokens", c.usage.prompt_tokens}, {"completion_tokens", c.usage.completion_tokens}}}};
  std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> l(mu_);
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    RLEIF_CHECK(n > 0, path_, ": cannot append to the response cache (", std::strerror(errno), ")");
    off += static_cast<size_t>(n);
  }
  index_[key] = {end_, static_cast<uint32_t>(line.size() - 1)};
  end_ += line.size();
}

size_t ResponseCache::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return index_.size();
}

void CachingTeacher::complete_async(const Messages& messages, const CompletionParams& params, CompletionCallback done) {
  std::string model = inner_.model_id();
  std::string key = ResponseCache::key_for(model, messages, params);
  if (auto hit = cache_.get(key)) {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++hits_;
    }
    CompletionResult r;
    r.completion = std::move(*hit);
    done(std::move(r));
    return;
  }
  int64_t sample = params.sample_index;
  inner_.complete_async(messages, params, [this, key, model, sample, done = std::move(done)](CompletionResult r) {
    if (r.ok()) {
      try {
        cache_.put(key, model, sample, r.completion);
      } catch (const Error& e) {
        r.error = e.what();  // a full disk must stop the run, not silently lose paid work
      }
    }
    done(std::move(r));
  });
}

TeacherStats CachingTeacher::stats() const {
  TeacherStats s = inner_.stats();
  std::lock_guard<std::mutex> l(mu_);
  s.cache_hits += hits_;
  s.completed += hits_;
  return s;
}

}  // namespace rleif::evol
