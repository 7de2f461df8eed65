#include "tests/evol_fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace rleif::test {
namespace {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t hash_str(const std::string& s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ mix(seed);
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return mix(h);
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string http_response(int status, const char* reason, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

int64_t approx_tokens(size_t chars) { return static_cast<int64_t>(chars / 4 + 1); }

}  // namespace

FakeTeacherServer::FakeTeacherServer(Handler handler, FaultPlan plan, double latency_s)
    : handler_(std::move(handler)), plan_(plan), latency_s_(latency_s) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fake server: socket() failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 512) != 0)
    throw std::runtime_error("fake server: bind/listen failed");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeTeacherServer::~FakeTeacherServer() { stop(); }

std::string FakeTeacherServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

FakeServerStats FakeTeacherServer::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

void FakeTeacherServer::stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  cv_.notify_all();
  for (auto& t : workers) t.join();
}

bool FakeTeacherServer::sleep_for(double s) {
  std::unique_lock<std::mutex> l(mu_);
  return !cv_.wait_for(l, std::chrono::duration<double>(s), [this] { return stopping_.load(); });
}

void FakeTeacherServer::accept_loop() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> l(mu_);
    open_fds_.insert(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

Fault FakeTeacherServer::draw_fault(const std::string& body, bool fresh_connection) {
  int n = arrivals_[body]++;
  if (n >= plan_.max_faults_per_request) return Fault::none;
  double u = static_cast<double>(hash_str(body, plan_.seed + static_cast<uint64_t>(n) * 7919) >> 11) * 0x1.0p-53;
  const double shares[] = {plan_.rate_limited, plan_.server_error, plan_.slow,
                           plan_.malformed,    plan_.truncated,    plan_.dropped};
  for (int k = 0; k < 6; ++k) {
    if (u < shares[k]) {
      Fault f = static_cast<Fault>(k + 1);
      if (f == Fault::dropped && !fresh_connection) return Fault::none;
      return f;
    }
    u -= shares[k];
  }
  return Fault::none;
}

void FakeTeacherServer::serve(int fd) {
  std::string buf;
  char chunk[65536];
  int served_on_connection = 0;
  while (!stopping_) {
    // Read one request: headers, then Content-Length bytes of body.
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) goto done;
      buf.append(chunk, static_cast<size_t>(n));
    }
    {
      std::string head = buf.substr(0, header_end);
      std::string lower = head;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t cl = lower.find("content-length:");
      size_t body_len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15));
      while (buf.size() < header_end + 4 + body_len) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) goto done;
        buf.append(chunk, static_cast<size_t>(n));
      }
      std::string body = buf.substr(header_end + 4, body_len);
      buf.erase(0, header_end + 4 + body_len);
      std::string auth;
      size_t ap = lower.find("authorization:");
      if (ap != std::string::npos) {
        size_t e = head.find("\r\n", ap);
        auth = head.substr(ap + 14, e == std::string::npos ? std::string::npos : e - ap - 14);
        while (!auth.empty() && auth.front() == ' ') auth.erase(0, 1);
      }
      Fault f;
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.requests;
        if (!auth.empty()) stats_.authorization.insert(auth);
        f = draw_fault(body, served_on_connection == 0);
        stats_.faults[static_cast<int>(f)] += f != Fault::none;
        stats_.max_concurrent = std::max(stats_.max_concurrent, ++in_flight_);
      }
      ++served_on_connection;
      auto leave = [this] {
        std::lock_guard<std::mutex> l(mu_);
        --in_flight_;
      };
      if (plan_.status_override) {
        leave();
        send_all(fd, http_response(plan_.status_override, "Error",
                                   R"({"error":{"message":"refused; you sent )" + auth + R"("}})"));
        continue;
      }
      if (latency_s_ > 0 && !sleep_for(latency_s_)) {
        leave();
        goto done;
      }
      if (f == Fault::dropped) {
        leave();
        goto done;
      }
      if (f == Fault::rate_limited) {
        leave();
        send_all(fd, http_response(429, "Too Many Requests", R"({"error":{"message":"slow down"}})",
                                   "Retry-After: " + std::to_string(plan_.retry_after_s) + "\r\n"));
        continue;
      }
      if (f == Fault::server_error) {
        leave();
        send_all(fd, http_response(500, "Internal Server Error", R"({"error":{"message":"boom"}})"));
        continue;
      }
      if (f == Fault::malformed) {
        leave();
        send_all(fd, http_response(200, "OK", R"({"choices": [{"message": {"content": "cut)"));
        continue;
      }
      json req = json::parse(body, nullptr, false);
      std::string text = req.is_discarded() ? "" : handler_(req);
      size_t prompt_chars = 0;
      if (!req.is_discarded() && req.contains("messages"))
        for (auto& m : req["messages"]) prompt_chars += m.value("content", "").size();
      int64_t pt = approx_tokens(prompt_chars), ct = approx_tokens(text.size());
      json out{{"id", "chatcmpl-fake"},
               {"object", "chat.completion"},
               {"model", req.is_discarded() ? json("") : req.value("model", json(""))},
               {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}}},
               {"usage", {{"prompt_tokens", pt}, {"completion_tokens", ct}, {"total_tokens", pt + ct}}}};
      std::string resp = http_response(200, "OK", out.dump());
      if (f == Fault::truncated) {
        leave();
        send_all(fd, resp.substr(0, resp.size() - out.dump().size() / 2));
        goto done;
      }
      if (f == Fault::slow && !sleep_for(plan_.slow_s)) {
        leave();
        goto done;
      }
      // Count an answer, and leave in_flight_, before sending it: a client that has read the answer
      // must find it in stats(), and its next request must not overlap this one in max_concurrent
      // (doing both after send_all raced the test's stats() read). Uncounted if the send fails.
      auto count_ok = [&](int sign) {
        if (f != Fault::none) return;
        stats_.ok += sign;
        stats_.ok_prompt_tokens += sign * pt;
        stats_.ok_completion_tokens += sign * ct;
      };
      {
        std::lock_guard<std::mutex> l(mu_);
        --in_flight_;
        count_ok(+1);
      }
      if (!send_all(fd, resp)) {
        std::lock_guard<std::mutex> l(mu_);
        count_ok(-1);
      }
    }
  }
done:
  std::lock_guard<std::mutex> l(mu_);
  open_fds_.erase(fd);
  ::close(fd);
}

int fork_fake_server(FakeTeacherServer::Handler handler, FaultPlan plan, double latency_s, int* port) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("fork_fake_server: pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(fds[0]);
    FakeTeacherServer server(std::move(handler), plan, latency_s);
    int p = server.port();
    if (::write(fds[1], &p, sizeof p) != sizeof p) ::_exit(1);
    ::close(fds[1]);
    while (true) ::pause();
  }
  ::close(fds[1]);
  if (::read(fds[0], port, sizeof *port) != sizeof *port) throw std::runtime_error("fork_fake_server: no port");
  ::close(fds[0]);
  return pid;
}

}  // namespace rleif::test
