#include "evol/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"

namespace rleif::evol {

json StageProgress::to_json() const {
  return {{"done", done}, {"lines", lines}, {"kept", kept}, {"eliminated", eliminated}, {"reasons", reasons}};
}

StageProgress StageProgress::from_json(const json& j) {
  StageProgress p;
  p.done = j.value("done", int64_t{0});
  p.lines = j.value("lines", int64_t{0});
  p.kept = j.value("kept", int64_t{0});
  p.eliminated = j.value("eliminated", int64_t{0});
  if (j.contains("reasons") && j["reasons"].is_object())
    for (auto& [k, v] : j["reasons"].items()) p.reasons[k] = v.get<int64_t>();
  return p;
}

json UsageTotals::to_json() const {
  return {{"requests", requests},           {"retries", retries},
          {"cache_hits", cache_hits},       {"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens}, {"cost", cost}};
}

UsageTotals UsageTotals::from_json(const json& j) {
  UsageTotals u;
  u.requests = j.value("requests", int64_t{0});
  u.retries = j.value("retries", int64_t{0});
  u.cache_hits = j.value("cache_hits", int64_t{0});
  u.prompt_tokens = j.value("prompt_tokens", int64_t{0});
  u.completion_tokens = j.value("completion_tokens", int64_t{0});
  u.cost = j.value("cost", 0.0);
  return u;
}

RunDir::RunDir(std::string dir) : dir_(std::move(dir)) {
  RLEIF_CHECK(!dir_.empty(), "output.dir: empty; name the output directory");
  make_dirs(dir_);
  std::string lock = path(".lock");
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  RLEIF_CHECK(lock_fd_ >= 0, lock, ": cannot open (", std::strerror(errno), ")");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    RLEIF_FAIL(dir_, ": another rleif evol is writing this directory; wait for it to finish or use another output.dir");
  }
  // JsonlAppender first: it cuts a partial last line that a kill mid-write left.
  journal_ = std::make_unique<JsonlAppender>(path("journal.jsonl"));
  json j;
  SourceLoc loc;
  JsonlReader reader(path("journal.jsonl"));
  while (reader.next(j, loc)) {
    RLEIF_CHECK(j.contains("stage") && j["stage"].is_string(), loc.str(), ": journal entry without a stage");
    stages_[j["stage"].get<std::string>()] = StageProgress::from_json(j);
    if (j.contains("usage")) usage_ = UsageTotals::from_json(j["usage"]);
  }
}

RunDir::~RunDir() {
  journal_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::optional<std::string> RunDir::saved_config() const {
  std::string p = path("run.yaml");
  if (!path_exists(p)) return std::nullopt;
  return read_file(p);
}

void RunDir::save_config(const std::string& yaml) { write_file_atomic(path("run.yaml"), yaml); }

StageProgress RunDir::progress(const std::string& stage) const {
  auto it = stages_.find(stage);
  return it == stages_.end() ? StageProgress{} : it->second;
}

std::unique_ptr<JsonlAppender> RunDir::open_output(const std::string& stage, const std::string& file) {
  std::string p = path(file);
  int64_t want = progress(stage).lines;
  if (path_exists(p)) {
    // Streams the file (it can be large) to the end of its `want`-th line.
    std::ifstream in(p, std::ios::binary);
    RLEIF_CHECK(in, p, ": cannot read (", std::strerror(errno), ")");
    uint64_t pos = 0;
    int64_t lines = 0;
    std::string line;
    while (lines < want && std::getline(in, line) && !in.eof()) {
      pos += line.size() + 1;
      ++lines;
    }
    RLEIF_CHECK(lines == want, p, ": has ", lines, " records but the journal recorded ", want,
                "; the file was changed outside rleif. Restore it, or remove ", dir_, " to start over");
    in.close();
    if (pos != static_cast<uint64_t>(std::filesystem::file_size(p))) {
      RLEIF_CHECK(::truncate(p.c_str(), static_cast<off_t>(pos)) == 0, p, ": cannot cut back to the journaled ",
                  want, " records (", std::strerror(errno), ")");
    }
  } else {
    RLEIF_CHECK(want == 0, p, ": missing, but the journal recorded ", want,
                " records; restore it, or remove ", dir_, " to start over");
  }
  return std::make_unique<JsonlAppender>(p);
}

void RunDir::checkpoint(const std::string& stage, JsonlAppender& out, const StageProgress& p, const UsageTotals& u) {
  out.sync();
  json j = p.to_json();
  j["stage"] = stage;
  j["usage"] = u.to_json();
  j["time"] = static_cast<int64_t>(std::time(nullptr));
  journal_->append(j);
  journal_->sync();
  stages_[stage] = p;
  usage_ = u;
}

}  // namespace rleif::evol
