#include "core/jsonl.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/fs.h"

namespace rleif {

std::string SourceLoc::str() const { return line ? path + ":" + std::to_string(line) : path; }

JsonlReader::JsonlReader(const std::string& path, bool skip_bad)
    : path_(path), in_(path, std::ios::binary), skip_bad_(skip_bad) {
  RLEIF_CHECK(in_, path, ": cannot open JSONL file (", std::strerror(errno), ")");
}

bool JsonlReader::next(json& value, SourceLoc& loc) {
  std::string text;
  while (std::getline(in_, text)) {
    ++line_;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    bool blank = text.find_first_not_of(" \t") == std::string::npos;
    if (blank) continue;
    loc = SourceLoc{path_, line_};
    try {
      value = json::parse(text);
    } catch (const json::parse_error& e) {
      if (skip_bad_) {
        ++bad_lines_;
        continue;
      }
      RLEIF_FAIL(loc.str(), ": not valid JSON (", e.what(), ")");
    }
    if (!value.is_object()) {
      if (skip_bad_) {
        ++bad_lines_;
        continue;
      }
      RLEIF_FAIL(loc.str(), ": expected a JSON object, got ", value.type_name());
    }
    return true;
  }
  return false;
}

std::vector<json> read_jsonl(const std::string& path) {
  JsonlReader r(path);
  std::vector<json> out;
  json v;
  SourceLoc loc;
  while (r.next(v, loc)) out.push_back(std::move(v));
  return out;
}

JsonlAppender::JsonlAppender(const std::string& path) : path_(path) {
  make_dirs(parent_dir(path));
  if (path_exists(path)) {
    // Drop a partial last line left by a kill mid-write.
    std::string data = read_file(path);
    size_t keep = data.empty() || data.back() == '\n' ? data.size() : data.rfind('\n') + 1;
    if (data.rfind('\n') == std::string::npos) keep = 0;
    if (keep != data.size()) {
      RLEIF_CHECK(::truncate(path.c_str(), static_cast<off_t>(keep)) == 0, path,
                  ": cannot truncate a partial last line (", std::strerror(errno), ")");
    }
  }
  f_ = std::fopen(path.c_str(), "ab");
  RLEIF_CHECK(f_, path, ": cannot open for appending (", write_error(errno), ")");
}

JsonlAppender::~JsonlAppender() {
  if (f_) {
    std::fflush(f_);
    ::fsync(fileno(f_));
    std::fclose(f_);
  }
}

void JsonlAppender::append(const json& value) {
  std::string line = value.dump(-1, ' ', false, json::error_handler_t::replace);
  line += '\n';
  // Flushed per line, so a full disk fails this append (a partial line is cut off on the next open).
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    RLEIF_FAIL(path_, ": write failed (", write_error(errno), ")");
}

void JsonlAppender::sync() {
  if (std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0) RLEIF_FAIL(path_, ": sync failed (", write_error(errno), ")");
}

}  // namespace rleif
