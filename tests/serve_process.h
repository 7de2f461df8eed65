// A `rleif serve` child process on 127.0.0.1 with a port chosen by the OS, for tests that drive the
// server over HTTP (serve_openai_test, evol_serve_test). The child's stdout and stderr go to a log
// file; the constructor returns once the server prints its URL (url() stays empty if it never does).
#pragma once
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace rleif::test {

class ServeProcess {
 public:
  // Runs `rleif serve --model model_dir --port 0 --threads 1 extra...`.
  ServeProcess(const std::string& model_dir, const std::vector<std::string>& extra);
  ~ServeProcess();  // SIGKILL if still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool alive();
  // Waits up to `seconds` for the process to end; its exit code, -signal, or -1 if it did not end.
  int wait_exit(double seconds);
  std::string log() const;
  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  pid_t pid() const { return pid_; }

 private:
  std::string log_, url_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// POSTs `body` to `url` with the venv python's urllib: exit 0 and the response body, or exit 1 and
// "STATUS BODY" for an HTTP error.
CommandResult post_json(const std::string& url, const nlohmann::json& body);

}  // namespace rleif::test
