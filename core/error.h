#pragma once
// Errors: every failure is an lpt::Error whose message names what was wrong (file, key, tensor,
// op and shapes) and what was expected. Callers at the top (the CLI) print it and exit non-zero.
#include <sstream>
#include <stdexcept>
#include <string>

namespace lpt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// fail("conv2d: input ", shape_str(x), " ...") throws lpt::Error with the concatenated message.
template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(detail::concat(args...));
}

}  // namespace lpt

// LPT_CHECK(cond, parts...): throws lpt::Error(parts...) when cond is false.
#define LPT_CHECK(cond, ...)                     \
  do {                                           \
    if (!(cond)) ::lpt::fail(__VA_ARGS__);       \
  } while (0)
