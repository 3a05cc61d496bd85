#include "core/kernel_probe.h"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ringpost::core {
namespace {

#ifndef IORING_FEAT_RECVSEND_BUNDLE
constexpr unsigned kFeatRecvSendBundle = 1U << 14;  // newer than liburing 2.3's header
#else
constexpr unsigned kFeatRecvSendBundle = IORING_FEAT_RECVSEND_BUNDLE;
#endif

struct RequiredOp {
  int opcode;
  const char* name;
};
constexpr RequiredOp kRequiredOps[] = {
    {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_RECV, "RECV"},
    {IORING_OP_SENDMSG, "SENDMSG"},   {IORING_OP_CONNECT, "CONNECT"},
    {IORING_OP_READ, "READ"},         {IORING_OP_WRITE, "WRITE"},
    {IORING_OP_FSYNC, "FSYNC"},       {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_MSG_RING, "MSG_RING"}, {IORING_OP_CLOSE, "CLOSE"},
    // Local delivery (queue/maildir.h).
    {IORING_OP_OPENAT, "OPENAT"},     {IORING_OP_WRITEV, "WRITEV"},
    {IORING_OP_RENAMEAT, "RENAMEAT"}, {IORING_OP_UNLINKAT, "UNLINKAT"},
    {IORING_OP_MKDIRAT, "MKDIRAT"},
};

absl::Status ProbeSetupFlag(unsigned flag, bool* available) {
  io_uring ring;
  io_uring_params params;
  std::memset(&params, 0, sizeof(params));
  params.flags = flag;
  const int ret = io_uring_queue_init_params(4, &ring, &params);
  *available = ret == 0;
  if (ret == 0) io_uring_queue_exit(&ring);
  return ret == 0 || ret == -EINVAL ? absl::OkStatus()
                                    : absl::ErrnoToStatus(-ret, "io_uring_queue_init_params");
}

absl::Status ProbeBufferRing(io_uring* ring) {
  const size_t bytes = 4096;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = 8;
  reg.bgid = 0;
  const int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret == 0) io_uring_unregister_buf_ring(ring, 0);
  munmap(mem, bytes);
  if (ret < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("io_uring provided buffer rings are unavailable: ", strerror(-ret)));
  }
  return absl::OkStatus();
}

}  // namespace

std::string KernelFeatures::Describe() const {
  return absl::StrCat("linux ", major, ".", minor, " single_issuer=", single_issuer,
                      " defer_taskrun=", defer_taskrun, " send_zc=", send_zc, " recv_bundle=", recv_bundle);
}

absl::StatusOr<KernelFeatures> ProbeKernel() {
  KernelFeatures features;
  utsname name;
  if (uname(&name) != 0) return absl::ErrnoToStatus(errno, "uname");
  if (std::sscanf(name.release, "%d.%d", &features.major, &features.minor) != 2) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read kernel version ", name.release));
  }
  // Multishot recv and provided buffer rings as we use them need 6.0; DESIGN.md sets 6.1.
  if (features.major < 6 || (features.major == 6 && features.minor < 1)) {
    return absl::FailedPreconditionError(
        absl::StrCat("ringpost needs Linux 6.1 or newer; this kernel is ", name.release));
  }
  io_uring ring;
  int ret = io_uring_queue_init(8, &ring, 0);
  if (ret < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("io_uring is unavailable (", strerror(-ret),
                     "); check /proc/sys/kernel/io_uring_disabled and seccomp"));
  }
  absl::Status status = absl::OkStatus();
  const unsigned required_features = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_CQE_SKIP;
  if ((ring.features & required_features) != required_features) {
    status = absl::FailedPreconditionError("io_uring lacks NODROP, EXT_ARG or CQE_SKIP");
  }
  features.recv_bundle = (ring.features & kFeatRecvSendBundle) != 0;
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    status = absl::FailedPreconditionError("io_uring opcode probe failed");
  } else {
    for (const RequiredOp& op : kRequiredOps) {
      if (status.ok() && !io_uring_opcode_supported(probe, op.opcode)) {
        status = absl::FailedPreconditionError(
            absl::StrCat("io_uring lacks the required opcode IORING_OP_", op.name));
      }
    }
    features.send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    io_uring_free_probe(probe);
  }
  if (status.ok()) status = ProbeBufferRing(&ring);
  io_uring_queue_exit(&ring);
  if (!status.ok()) return status;
  absl::Status s = ProbeSetupFlag(IORING_SETUP_SINGLE_ISSUER, &features.single_issuer);
  if (!s.ok()) return s;
  s = ProbeSetupFlag(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, &features.defer_taskrun);
  if (!s.ok()) return s;
  return features;
}

}  // namespace ringpost::core
