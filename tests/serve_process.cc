#include "tests/serve_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/test_util.h"

namespace rleif::test {

ServeProcess::ServeProcess(const std::string& model_dir, const std::vector<std::string>& extra) {
  log_ = temp_dir("serve") + "/serve.log";
  std::vector<std::string> argv = {rleif_bin(), "serve", "--model", model_dir, "--port", "0", "--threads", "1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  // Everything the child needs is prepared before fork (the test process may have threads).
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    FILE* f = std::fopen(log_.c_str(), "w");
    if (!f) ::_exit(126);
    ::dup2(fileno(f), 1);
    ::dup2(fileno(f), 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const std::regex re("listening on (http://127\\.0\\.0\\.1:[0-9]+)");
  for (int i = 0; i < 600 && url_.empty() && alive(); ++i) {
    std::smatch m;
    const std::string text = log();
    if (std::regex_search(text, m, re)) url_ = m[1];
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0 && alive()) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool ServeProcess::alive() {
  if (exited_) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) exited_ = true, status_ = st;
  return !exited_;
}

int ServeProcess::wait_exit(double seconds) {
  for (int i = 0; i < seconds * 10 && alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (alive()) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
}

std::string ServeProcess::log() const {
  std::ifstream f(log_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CommandResult post_json(const std::string& url, const nlohmann::json& body) {
  const char* script =
      "import sys, urllib.request, urllib.error\n"
      "q = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={'Content-Type': 'application/json'})\n"
      "try:\n"
      "    print(urllib.request.urlopen(q, timeout=120).read().decode())\n"
      "except urllib.error.HTTPError as e:\n"
      "    print(e.code, e.read().decode()); sys.exit(1)\n";
  return run_command({python_bin(), "-c", script, url, body.dump()}, 180);
}

}  // namespace rleif::test
