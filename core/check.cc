#include "core/check.h"

#include <unistd.h>

namespace ringpost::core::internal {

void CheckFailed(const char* file, int line, const char* condition, const char* message) {
  // stdio may be mid-write on another thread; one fprintf per line is still atomic enough
  // for a dying process, and abort() gives the core dump.
  std::fprintf(stderr, "RP_CHECK failed at %s:%d: %s%s%s\n", file, line, condition,
               message[0] != '\0' ? ": " : "", message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ringpost::core::internal
