// Helpers for tests: where shared data, fixtures and the rleif binary are; temp dirs; subprocesses.
#pragma once
#include <gtest/gtest.h>

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

// Starts `argv` (no shell) with stdout/stderr to /dev/null and returns its pid (kill/waitpid it).
int spawn_quiet(const std::vector<std::string>& argv);
// Waits until `path` exists; false after timeout_s.
bool wait_for_path(const std::string& path, double timeout_s = 300);

// Skips the current test (GTEST_SKIP) with a reason when a path is missing.
#define RLEIF_REQUIRE_PATH(p)                                                \
  do {                                                                       \
    if (!::rleif::test::path_present(p)) GTEST_SKIP() << "missing: " << (p); \
  } while (0)
bool path_present(const std::string& p);

// The message of the rleif::Error `f` throws; "" when it throws none.
std::string error_of(const std::function<void()>& f);

}  // namespace rleif::test
