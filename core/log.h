// Logging to stderr with levels; never logs secrets (callers pass redacted values).
#pragma once
#include <string>

#include "core/error.h"

namespace rleif {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, quiet = 4 };
void set_log_level(LogLevel level);
LogLevel log_level();
void log_line(LogLevel level, const std::string& msg);

template <class... Args>
void log_info(Args&&... a) { if (log_level() <= LogLevel::info) log_line(LogLevel::info, str(std::forward<Args>(a)...)); }
template <class... Args>
void log_warn(Args&&... a) { if (log_level() <= LogLevel::warn) log_line(LogLevel::warn, str(std::forward<Args>(a)...)); }
template <class... Args>
void log_debug(Args&&... a) { if (log_level() <= LogLevel::debug) log_line(LogLevel::debug, str(std::forward<Args>(a)...)); }
template <class... Args>
void log_error(Args&&... a) { log_line(LogLevel::error, str(std::forward<Args>(a)...)); }

}  // namespace rleif
