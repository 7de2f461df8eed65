// Helpers for tests: where shared data, fixtures and the rleif binary are; temp dirs; subprocesses.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rleif::test {

// ../shared (RLEIF_SHARED).
std::string shared_dir();
// Python reference fixtures made by scripts/fixtures/*.py (RLEIF_FIXTURES).
std::string fixtures_dir();
// The repository root (RLEIF_SOURCE).
std::string source_dir();
// The built rleif binary (RLEIF_BIN).
std::string rleif_bin();
// The venv python (RLEIF_PYTHON).
std::string python_bin();
// A fresh empty directory under the system temp dir, removed at process exit.
std::string temp_dir(const std::string& tag);

struct CommandResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;     // stdout and stderr together
};
// Runs `argv` (no shell), capturing stdout+stderr; timeout_s kills it with SIGKILL.
CommandResult run_command(const std::vector<std::string>& argv, double timeout_s = 600);

// A full disk, portably: while it lives, no file this process writes (nor one written by a child it
// starts meanwhile) can grow past `bytes`; such writes fail with EFBIG, SIGXFSZ being ignored.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  uint64_t old_cur_ = 0;
  void (*old_handler_)(int) = nullptr;
};

// A read-only directory, also when the tests run as root: chmod 0555 and, for this thread only,
// CAP_DAC_OVERRIDE dropped from the effective capabilities; both restored on destruction. Only the
// calling thread is affected: run the writes under test on it (no child processes).
class ReadOnlyDir {
 public:
  explicit ReadOnlyDir(std::string dir);
  ~ReadOnlyDir();
  ReadOnlyDir(const ReadOnlyDir&) = delete;
  ReadOnlyDir& operator=(const ReadOnlyDir&) = delete;

 private:
  std::string dir_;
  unsigned mode_ = 0755;
  bool dropped_ = false;
};

// Starts `argv` (no shell) with stdout/stderr to /dev/null and returns its pid (kill/waitpid it).
int spawn_quiet(const std::vector<std::string>& argv);
// Waits until `path` exists; false after timeout_s.
bool wait_for_path(const std::string& path, double timeout_s = 300);

// Fails the current test (a fatal failure: the test stops) when a path it needs is missing, with
// how to get it: shared data, fixtures and the rleif binary are required, never a reason to skip.
// Only genuinely optional tests (no CUDA device, no AVX2) skip, with GTEST_SKIP.
#define RLEIF_REQUIRE_PATH(p)                                                                  \
  do {                                                                                         \
    if (!::rleif::test::path_present(p)) FAIL() << ::rleif::test::missing_path_message(p);     \
  } while (0)
bool path_present(const std::string& p);

// The message of the rleif::Error `f` throws; "" when it throws none.
std::string error_of(const std::function<void()>& f);
// "missing: <p>" and how to get it (scripts/setup for shared data and fixtures, RLEIF_SHARED, the
// ctest fixture tests, the rleif target).
std::string missing_path_message(const std::string& p);

}  // namespace rleif::test
