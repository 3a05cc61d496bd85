// Process resource limits the runtime needs before it starts.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace ringpost::core {

// Raises RLIMIT_NOFILE to at least `needed` descriptors (raising the hard limit too
// when running as root). Fails with a message naming the limit when it cannot.
absl::Status RaiseFileLimit(uint64_t needed);

// Online CPUs, for the --shards default.
int OnlineCpuCount();

}  // namespace ringpost::core
