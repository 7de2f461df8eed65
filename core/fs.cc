#include "core/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

namespace rleif {
namespace fsys = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RLEIF_CHECK(in, path, ": cannot open for reading (", std::strerror(errno), ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  RLEIF_CHECK(!in.bad(), path, ": read failed");
  return ss.str();
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

static std::string temp_name(const std::string& path) {
  std::random_device rd;
  return str(path, ".tmp.", ::getpid(), ".", rd());
}

void write_file_atomic(const std::string& path, const std::string& data) {
  fsys::path p(path);
  if (p.has_parent_path()) make_dirs(p.parent_path().string());
  std::string tmp = temp_name(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  RLEIF_CHECK(fd >= 0, tmp, ": cannot create (", std::strerror(errno), ")");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      RLEIF_FAIL(path, ": write failed (", std::strerror(e), ")");
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    RLEIF_FAIL(path, ": rename from temporary file failed (", std::strerror(e), ")");
  }
  fsync_path(p.has_parent_path() ? p.parent_path().string() : ".");
}

void replace_dir_atomic(const std::string& tmp, const std::string& dst) {
  std::error_code ec;
  fsys::path d(dst);
  std::string old = temp_name(dst) + ".old";
  bool had = fsys::exists(d);
  if (had) {
    fsys::rename(d, old, ec);
    RLEIF_CHECK(!ec, dst, ": cannot move the old directory aside (", ec.message(), ")");
  }
  fsys::rename(tmp, d, ec);
  RLEIF_CHECK(!ec, dst, ": cannot rename ", tmp, " into place (", ec.message(), ")");
  fsync_path(d.has_parent_path() ? d.parent_path().string() : ".");
  if (had) remove_tree(old);
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) -> int { return ::remove(p); };
  ::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS);
}

bool path_exists(const std::string& path) { return fsys::exists(path); }
bool is_directory(const std::string& path) { return fsys::is_directory(path); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  fsys::create_directories(path, ec);
  RLEIF_CHECK(!ec || fsys::is_directory(path), path, ": cannot create directory (", ec.message(), ")");
}

}  // namespace rleif
