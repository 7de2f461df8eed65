// Errors a user can cause: exceptions with a message naming where, what and how to fix it.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace rleif {

// The one exception type rleif throws for bad input, bad configs and failed I/O.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// str(a, b, c): concatenates anything streamable.
template <class... Args>
std::string str(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

}  // namespace rleif

// RLEIF_CHECK(cond, parts...): throws rleif::Error(str(parts...)) when cond is false.
#define RLEIF_CHECK(cond, ...)                               \
  do {                                                       \
    if (!(cond)) throw ::rleif::Error(::rleif::str(__VA_ARGS__)); \
  } while (0)

// RLEIF_FAIL(parts...): throws rleif::Error(str(parts...)).
#define RLEIF_FAIL(...) throw ::rleif::Error(::rleif::str(__VA_ARGS__))
