// Helpers for the multi-process tests (core/dist, data-parallel training): a free loopback port,
// a loopback launch, and forked ranks reporting through their exit codes.
#pragma once
#include <functional>
#include <iostream>
#include <vector>

#include "core/dist/dist.h"

namespace rleif::test {

// A TCP port on 127.0.0.1 that was free a moment ago (the rendezvous port of a test job).
int free_port();
// Rank `rank` of a `world`-process job meeting at 127.0.0.1:`port`.
dist::Launch loopback(int rank, int world, int port);
// Runs body(rank) in `world` forked processes; a child exits 0 when body returned true, 1 when it
// returned false or threw (the message goes to stderr). Returns the exit codes: -1 for a child
// still running after timeout_s (then killed), -100 - signal for one a signal ended.
std::vector<int> run_forked(int world, double timeout_s, const std::function<bool(int)>& body);

}  // namespace rleif::test

// In a run_forked body: returns false (the child fails) naming the line when `cond` is false.
#define CHILD_CHECK(cond)                                                     \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::cerr << __FILE__ << ":" << __LINE__ << ": failed: " #cond "\n";    \
      return false;                                                           \
    }                                                                         \
  } while (0)
