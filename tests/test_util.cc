#include "tests/test_util.h"

#include "core/error.h"
#include "core/fs.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <thread>
#include <cstdlib>
#include <mutex>
#include <random>

namespace rleif::test {

static std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string shared_dir() { return env_or("RLEIF_SHARED", "../shared"); }
std::string fixtures_dir() { return env_or("RLEIF_FIXTURES", "build/fixtures"); }
std::string source_dir() { return env_or("RLEIF_SOURCE", "."); }
std::string rleif_bin() { return env_or("RLEIF_BIN", "build/cli/rleif"); }
std::string python_bin() { return env_or("RLEIF_PYTHON", source_dir() + "/.venv/bin/python"); }
bool path_present(const std::string& p) { return path_exists(p); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string missing_path_message(const std::string& p) {
  auto under = [&](const std::string& dir) { return !dir.empty() && p.compare(0, dir.size(), dir) == 0; };
  std::string how;
  if (p == rleif_bin())
    how = "the rleif binary: build the `rleif` target, or point RLEIF_BIN at one";
  else if (under(fixtures_dir()))
    how = "a Python reference fixture (RLEIF_FIXTURES = " + fixtures_dir() +
          "): run this test through ctest, which runs its fixture_* setup test first (scripts/setup installs the "
          "venv the fixture scripts need)";
  else if (under(shared_dir()))
    how = "shared data (RLEIF_SHARED = " + shared_dir() + "): set RLEIF_SHARED to the shared data and models folder";
  else
    how = "a file this test needs";
  return "missing: " + p + "\n  this is " + how;
}

FileSizeLimit::FileSizeLimit(uint64_t bytes) {
  rlimit l{};
  if (::getrlimit(RLIMIT_FSIZE, &l) != 0) ADD_FAILURE() << "getrlimit(RLIMIT_FSIZE): " << std::strerror(errno);
  old_cur_ = l.rlim_cur;
  old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
  l.rlim_cur = bytes;
  if (::setrlimit(RLIMIT_FSIZE, &l) != 0) ADD_FAILURE() << "setrlimit(RLIMIT_FSIZE): " << std::strerror(errno);
}

FileSizeLimit::~FileSizeLimit() {
  rlimit l{};
  ::getrlimit(RLIMIT_FSIZE, &l);
  l.rlim_cur = old_cur_;
  ::setrlimit(RLIMIT_FSIZE, &l);
  ::signal(SIGXFSZ, old_handler_);
}

namespace {
// This thread's capability sets (capget/capset act on the calling thread only).
bool thread_caps(__user_cap_data_struct (&d)[2], bool set) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  return ::syscall(set ? SYS_capset : SYS_capget, &h, d) == 0;
}
}  // namespace

ReadOnlyDir::ReadOnlyDir(std::string dir) : dir_(std::move(dir)) {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) ADD_FAILURE() << dir_ << ": " << std::strerror(errno);
  mode_ = st.st_mode & 07777;
  if (::chmod(dir_.c_str(), 0555) != 0) ADD_FAILURE() << "chmod " << dir_ << ": " << std::strerror(errno);
  __user_cap_data_struct d[2]{};
  if (thread_caps(d, false) && (d[0].effective & (1u << CAP_DAC_OVERRIDE))) {
    d[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
    dropped_ = thread_caps(d, true);
    if (!dropped_) ADD_FAILURE() << "cannot drop CAP_DAC_OVERRIDE: " << std::strerror(errno);
  }
}

ReadOnlyDir::~ReadOnlyDir() {
  if (dropped_) {
    __user_cap_data_struct d[2]{};
    if (thread_caps(d, false)) {
      d[0].effective |= 1u << CAP_DAC_OVERRIDE;
      thread_caps(d, true);
    }
  }
  ::chmod(dir_.c_str(), mode_);
}

namespace {
std::mutex g_mu;
std::vector<std::string>& temp_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}
// Removes temp dirs after the last test, while every library is still alive (an atexit handler
// would run after libtorch's statics are gone; libtorch.so exports its own std::filesystem).
struct TempCleanup : ::testing::Environment {
  void TearDown() override {
    if (std::getenv("RLEIF_KEEP_TEMP")) return;
    std::lock_guard<std::mutex> lock(g_mu);
    for (auto& d : temp_dirs()) remove_tree(d);
    temp_dirs().clear();
  }
};
[[maybe_unused]] ::testing::Environment* const g_cleanup = ::testing::AddGlobalTestEnvironment(new TempCleanup);
}  // namespace

std::string temp_dir(const std::string& tag) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::random_device rd;
  const char* tmpdir = std::getenv("TMPDIR");
  std::string p = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/rleif_" + tag + "_" + std::to_string(::getpid()) +
                  "_" + std::to_string(rd());
  make_dirs(p);
  temp_dirs().push_back(p);
  return p;
}

CommandResult run_command(const std::vector<std::string>& argv, double timeout_s) {
  CommandResult r;
  int fds[2];
  if (::pipe(fds) != 0) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buf[4096];
  while (true) {
    pollfd p{fds[0], POLLIN, 0};
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (ms <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    int n = ::poll(&p, 1, std::min(ms, 1000));
    if (n > 0) {
      ssize_t k = ::read(fds[0], buf, sizeof buf);
      if (k <= 0) break;
      r.out.append(buf, static_cast<size_t>(k));
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return r;
}

int spawn_quiet(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  return pid;
}

bool wait_for_path(const std::string& path, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (path_present(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

}  // namespace rleif::test
