#include "core/resource_limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace ringpost::core {

absl::Status RaiseFileLimit(uint64_t needed) {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::ErrnoToStatus(errno, "getrlimit");
  if (limit.rlim_cur >= needed) return absl::OkStatus();
  rlimit wanted = limit;
  wanted.rlim_cur = needed;
  if (wanted.rlim_max < needed) wanted.rlim_max = needed;  // only root may do this
  if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) return absl::OkStatus();
  // Not root: take what the hard limit allows and say what is missing.
  wanted.rlim_max = limit.rlim_max;
  wanted.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &wanted);
  return absl::ResourceExhaustedError(absl::StrCat("RLIMIT_NOFILE is ", limit.rlim_max,
                                                   " but the connection limits need ", needed,
                                                   "; raise it (ulimit -n) or lower --max_connections"));
}

int OnlineCpuCount() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace ringpost::core
