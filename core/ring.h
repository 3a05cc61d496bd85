// One io_uring, owned by one shard thread.
//
// Created on its owning thread (a SINGLE_ISSUER ring used from another thread fails
// with -EEXIST). GetSqe() never returns null: when the SQ is full it submits, and if the
// kernel cannot take more (CQ overflow back-pressure) it reaps completions into a
// backlog that the next Reap() hands out first. Reap() copies completions out and
// advances the CQ before any handler runs, so handlers may submit freely.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/clock.h"
#include "core/op_tag.h"

namespace ringpost::core {

struct RingOptions {
  unsigned sq_entries = 1024;
  // Completions can outnumber submissions (multishot accept and recv), so the CQ is
  // sized for the worst case of outstanding completions, not from the SQ.
  unsigned cq_entries = 16384;
  bool single_issuer = true;  // IORING_SETUP_SINGLE_ISSUER when the kernel has it
  bool defer_taskrun = true;  // IORING_SETUP_DEFER_TASKRUN when the kernel has it
};

class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  // Call on the owning thread. Falls back to fewer setup flags when the kernel lacks them.
  absl::Status Init(const RingOptions& options);

  // Never null (see the header comment). The SQE is zeroed by the prep helpers.
  io_uring_sqe* GetSqe();

  // Submits queued SQEs and runs the kernel's completion work without waiting (with
  // DEFER_TASKRUN, completions are only posted inside io_uring_enter with GETEVENTS).
  void SubmitAndPoll();
  // Submits queued SQEs now, mid-turn, without reaping (an fdatasync the disk should
  // start on before the rest of the turn's work).
  void SubmitNow();
  // Submits and waits for at least one completion or until `deadline` (monotonic
  // nanoseconds; TimerWheel::kNever waits without a timeout).
  void SubmitAndWait(MonoNanos deadline, MonoNanos now);

  // Copies up to `max` completions into `out` and advances the CQ. Handles CQ overflow
  // by asking the kernel to flush its overflow list and reaping again.
  unsigned Reap(Completion* out, unsigned max);

  int fd() const { return ring_.ring_fd; }
  io_uring* raw() { return &ring_; }
  unsigned setup_flags() const { return setup_flags_; }
  unsigned features() const { return ring_.features; }
  uint64_t overflow_flushes() const { return overflow_flushes_; }

 private:
  unsigned ReapFromCq(Completion* out, unsigned max);

  io_uring ring_{};
  bool initialized_ = false;
  unsigned setup_flags_ = 0;
  std::vector<Completion> backlog_;  // reaped while GetSqe() waited for SQ space
  size_t backlog_head_ = 0;
  uint64_t overflow_flushes_ = 0;
};

}  // namespace ringpost::core
