#include "tests/dist_util.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace rleif::test {

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

dist::Launch loopback(int rank, int world, int port) {
  dist::Launch l;
  l.rank = rank;
  l.world = world;
  l.local_rank = rank;
  l.master_addr = "127.0.0.1";
  l.master_port = port;
  return l;
}

std::vector<int> run_forked(int world, double timeout_s, const std::function<bool(int)>& body) {
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    pid_t pid = ::fork();
    if (pid == 0) {
      bool ok = false;
      try {
        ok = body(r);
      } catch (const std::exception& e) {
        std::cerr << "rank " << r << ": " << e.what() << "\n";
      }
      std::cerr.flush();
      ::_exit(ok ? 0 : 1);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (pid_t p : pids) {
    int status = 0, got = 0;
    while ((got = ::waitpid(p, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) ::usleep(20000);
    if (got == 0) {
      ::kill(p, SIGKILL);
      ::waitpid(p, &status, 0);
      codes.push_back(-1);
    } else {
      codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : -100 - WTERMSIG(status));
    }
  }
  return codes;
}

}  // namespace rleif::test
