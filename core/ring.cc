#include "core/ring.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/timer_wheel.h"

namespace ringpost::core {

Ring::~Ring() {
  if (initialized_) io_uring_queue_exit(&ring_);
}

absl::Status Ring::Init(const RingOptions& options) {
  RP_CHECK(!initialized_);
  unsigned extra = 0;
  if (options.single_issuer) extra |= IORING_SETUP_SINGLE_ISSUER;
  if (options.defer_taskrun) extra |= IORING_SETUP_DEFER_TASKRUN;
  // Try the full set first, then drop the optional flags one by one (6.0 lacks
  // DEFER_TASKRUN; older kernels are refused by the probe before we get here).
  const unsigned attempts[] = {extra, extra & ~IORING_SETUP_DEFER_TASKRUN, 0u};
  int ret = -EINVAL;
  for (unsigned flags : attempts) {
    io_uring_params params;
    std::memset(&params, 0, sizeof(params));
    params.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = options.cq_entries;
    ret = io_uring_queue_init_params(options.sq_entries, &ring_, &params);
    if (ret == 0) {
      setup_flags_ = params.flags;
      break;
    }
    if (ret != -EINVAL) break;
  }
  if (ret < 0) return absl::ErrnoToStatus(-ret, "io_uring_queue_init_params");
  initialized_ = true;
  backlog_.reserve(options.cq_entries);
  return absl::OkStatus();
}

io_uring_sqe* Ring::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    const int submitted = io_uring_submit(&ring_);
    if (submitted == -EBUSY || submitted == -EAGAIN || submitted == 0) {
      // The kernel is holding back until we drain completions: move them to the
      // backlog (handlers must not run here, we may be inside one).
      Completion batch[64];
      const unsigned n = ReapFromCq(batch, 64);
      backlog_.insert(backlog_.end(), batch, batch + n);
      if (n == 0) io_uring_get_events(&ring_);
    } else {
      RP_CHECK_MSG(submitted > 0, "io_uring_submit failed while looking for an SQE");
    }
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Ring::SubmitAndPoll() {
  const int ret = io_uring_submit_and_get_events(&ring_);
  RP_CHECK_MSG(ret >= 0 || ret == -EBUSY || ret == -EAGAIN || ret == -EINTR,
               "io_uring_submit_and_get_events");
}

void Ring::SubmitNow() {
  const int ret = io_uring_submit(&ring_);
  RP_CHECK_MSG(ret >= 0 || ret == -EBUSY || ret == -EAGAIN || ret == -EINTR, "io_uring_submit");
}

void Ring::SubmitAndWait(MonoNanos deadline, MonoNanos now) {
  if (backlog_head_ < backlog_.size()) return SubmitAndPoll();  // work is already waiting
  io_uring_cqe* cqe = nullptr;
  int ret;
  if (deadline == TimerWheel::kNever) {
    ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
  } else {
    const MonoNanos wait = deadline > now ? deadline - now : 0;
    __kernel_timespec ts{wait / kNanosPerSecond, wait % kNanosPerSecond};
    ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  RP_CHECK_MSG(ret >= 0 || ret == -ETIME || ret == -EINTR || ret == -EBUSY || ret == -EAGAIN,
               "io_uring_submit_and_wait_timeout");
}

unsigned Ring::ReapFromCq(Completion* out, unsigned max) {
  io_uring_cqe* cqes[256];
  unsigned total = 0;
  while (total < max) {
    const unsigned want = std::min<unsigned>(max - total, 256);
    // io_uring_peek_batch_cqe flushes the kernel's overflow list when the CQ had
    // overflowed (IORING_SQ_CQ_OVERFLOW), so overflowed completions are not lost.
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, want);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) {
      out[total + i] = Completion{cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    }
    io_uring_cq_advance(&ring_, n);
    total += n;
  }
  return total;
}

unsigned Ring::Reap(Completion* out, unsigned max) {
  unsigned total = 0;
  while (backlog_head_ < backlog_.size() && total < max) out[total++] = backlog_[backlog_head_++];
  if (backlog_head_ == backlog_.size()) {
    backlog_.clear();
    backlog_head_ = 0;
  }
  total += ReapFromCq(out + total, max - total);
  if (total < max && (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW)) {
    // Completions are parked in the kernel's overflow list: flush and reap them too.
    ++overflow_flushes_;
    io_uring_get_events(&ring_);
    total += ReapFromCq(out + total, max - total);
  }
  return total;
}

}  // namespace ringpost::core
