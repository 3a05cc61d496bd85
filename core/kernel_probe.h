// Start-up probe of the kernel's io_uring: what we require and what we may use.
//
// Runs once on the main thread before any shard starts. A missing requirement is a
// clear error naming it (the daemon exits non-zero); optional features are recorded
// so newer kernels are used when present (DESIGN.md, The kernel).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ringpost::core {

struct KernelFeatures {
  int major = 0;
  int minor = 0;
  bool single_issuer = false;  // IORING_SETUP_SINGLE_ISSUER (6.0)
  bool defer_taskrun = false;  // IORING_SETUP_DEFER_TASKRUN (6.1)
  bool send_zc = false;        // IORING_OP_SEND_ZC (6.0)
  bool recv_bundle = false;    // IORING_FEAT_RECVSEND_BUNDLE (6.10)

  std::string Describe() const;
};

// Fails with FailedPrecondition naming the first missing requirement: Linux 6.1,
// the opcodes the runtime submits, NODROP/EXT_ARG/CQE_SKIP, and provided buffer rings.
absl::StatusOr<KernelFeatures> ProbeKernel();

}  // namespace ringpost::core
