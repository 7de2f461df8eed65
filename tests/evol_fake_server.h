// A real HTTP/1.1 server on loopback that speaks the OpenAI chat-completions API and injects
// faults: 429 + Retry-After, 500, responses slower than the client's timeout, malformed JSON,
// truncated bodies and dropped connections. Written on raw sockets (cpp-httplib cannot truncate a
// body or drop a connection on purpose). One thread per connection, keep-alive.
//
// Faults are deterministic: the n-th arrival of a given request body draws its fault from
// hash(seed, body, n); after max_faults_per_request faults a body is answered normally, so a client
// with enough retries always finishes. A connection is dropped only when it is fresh, because
// libcurl silently re-sends a request whose reused connection died, which would hide the fault.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/jsonl.h"

namespace rleif::test {

enum class Fault { none, rate_limited, server_error, slow, malformed, truncated, dropped };
constexpr int kFaultKinds = 7;

struct FaultPlan {
  double rate_limited = 0;  // share of arrivals answered 429 with Retry-After
  double server_error = 0;  // ... answered 500
  double slow = 0;          // ... answered after slow_s (longer than the client's timeout)
  double malformed = 0;     // ... answered 200 with a body that is not JSON
  double truncated = 0;     // ... answered with half the promised body, then closed
  double dropped = 0;       // ... closed without an answer (fresh connections only)
  int retry_after_s = 1;
  double slow_s = 1.5;
  int max_faults_per_request = 3;
  uint64_t seed = 1;
  int status_override = 0;  // non-zero: answer every request with this HTTP status (e.g. 401)
};

struct FakeServerStats {
  int64_t requests = 0;                      // requests read
  int64_t ok = 0;                            // answered 200 with a chat completion
  int64_t faults[kFaultKinds] = {0};         // injected, by Fault
  int64_t ok_prompt_tokens = 0, ok_completion_tokens = 0;  // usage reported in the ok answers
  std::set<std::string> authorization;       // Authorization header values seen
  int64_t max_concurrent = 0;                // most requests being handled at once
};

class FakeTeacherServer {
 public:
  // Returns the assistant's text for a request body (model, messages, seed, ...).
  using Handler = std::function<std::string(const json& request)>;
  FakeTeacherServer(Handler handler, FaultPlan plan = {}, double latency_s = 0);
  ~FakeTeacherServer();
  FakeTeacherServer(const FakeTeacherServer&) = delete;
  FakeTeacherServer& operator=(const FakeTeacherServer&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // http://127.0.0.1:PORT/v1
  FakeServerStats stats() const;
  void stop();

 private:
  void accept_loop();
  void serve(int fd);
  Fault draw_fault(const std::string& body, bool fresh_connection);
  bool sleep_for(double s);  // false when stopped meanwhile

  Handler handler_;
  FaultPlan plan_;
  double latency_s_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::set<int> open_fds_;
  std::map<std::string, int> arrivals_;  // body -> arrivals so far
  int64_t in_flight_ = 0;
  FakeServerStats stats_;
};

// Runs the server in a child process until the parent dies or kills it (for benchmarks, so the
// client's CPU time is measured alone). Returns the child's pid; writes the port to *port.
int fork_fake_server(FakeTeacherServer::Handler handler, FaultPlan plan, double latency_s, int* port);

}  // namespace rleif::test
