#include "core/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

namespace rleif {

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

std::string strip_trailing_slashes(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string parent_dir(const std::string& path) {
  std::string p = strip_trailing_slashes(path);
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

static std::string temp_name(const std::string& path) {
  std::random_device rd;
  return str(path, ".tmp.", ::getpid(), ".", rd());
}

std::string write_error(int err) {
  std::string s = std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    s += "; is the disk full or over quota? free space, or write to another directory";
  else if (err == EROFS || err == EACCES || err == EPERM)
    s += "; is the directory read-only? make it writable, or write to another directory";
  return s;
}

void write_file_atomic(const std::string& path, const std::string& data) {
  make_dirs(parent_dir(path));
  std::string tmp = temp_name(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  RLEIF_CHECK(fd >= 0, tmp, ": cannot create (", write_error(errno), ")");
  auto fail = [&](const char* what, int e) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    RLEIF_FAIL(path, ": ", what, " failed (", write_error(e), ")");
  };
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write", errno);
    off += static_cast<size_t>(n);
  }
  // A full disk may only show at fsync or close (delayed allocation, network file systems).
  if (::fsync(fd) != 0) fail("fsync", errno);
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename from temporary file", errno);
  fsync_path(parent_dir(path));
}

void copy_file(const std::string& src, const std::string& dst) { write_file_atomic(dst, read_file(src)); }

void replace_dir_atomic(const std::string& tmp_in, const std::string& dst_in) {
  std::string tmp = strip_trailing_slashes(tmp_in), dst = strip_trailing_slashes(dst_in);
  std::string old = temp_name(dst) + ".old";
  bool had = path_exists(dst);
  if (had)
    RLEIF_CHECK(::rename(dst.c_str(), old.c_str()) == 0, dst, ": cannot move the old directory aside (",
                write_error(errno), ")");
  if (::rename(tmp.c_str(), dst.c_str()) != 0) {
    const int e = errno;
    if (had) ::rename(old.c_str(), dst.c_str());  // put the old directory back
    RLEIF_FAIL(dst, ": cannot rename ", tmp, " into place (", write_error(e), ")");
  }
  fsync_path(parent_dir(dst));
  if (had) remove_tree(old);
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) -> int { return ::remove(p); };
  ::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS);
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void make_dirs(const std::string& path_in) {
  std::string path = strip_trailing_slashes(path_in);
  if (path.empty() || path == "." || path == "/" || is_directory(path)) return;
  make_dirs(parent_dir(path));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    RLEIF_FAIL(path, ": cannot create directory (", write_error(errno), ")");
  RLEIF_CHECK(is_directory(path), path, ": exists but is not a directory");
}

}  // namespace rleif
