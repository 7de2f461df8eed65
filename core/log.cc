#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace rleif {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::mutex g_mu;
}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log_line(LogLevel level, const std::string& msg) {
  static const char* names[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "[rleif %s] %s\n", names[static_cast<int>(level) & 3], msg.c_str());
  std::fflush(stderr);
}

}  // namespace rleif
