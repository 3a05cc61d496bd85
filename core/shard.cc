#include "core/shard.h"

#include <sys/signalfd.h>

#include <csignal>
#include <cstring>

#include "core/check.h"
#include "core/log.h"
#include "core/runtime.h"

namespace ringpost::core {

Shard::Shard(Runtime& runtime, int id, const ShardOptions& options)
    : runtime_(runtime), id_(id), options_(options) {}

Shard::~Shard() {
  for (const Envelope& e : self_inbox_) e.Dispose();
  RunDeferred();
  // Reverse order of creation: later attachments may use earlier ones.
  while (!attachments_.empty()) {
    attachments_.pop_back();
    RunDeferred();  // what an attachment's destructor deferred dies with it
  }
}

void Shard::RunDeferred() {
  // Calls deferred by these calls run in the same pass (a freed object may free others).
  while (!deferred_.empty()) {
    deferred_running_.swap(deferred_);
    for (const DeferredCall& call : deferred_running_) call.function(call.context, call.argument);
    deferred_running_.clear();
  }
}

int Shard::shard_count() const { return runtime_.shard_count(); }

absl::Status Shard::InitOnThread() {
  RP_RETURN_IF_ERROR(ring_.Init(options_.ring));
  RP_RETURN_IF_ERROR(
      buffers_.Init(ring_.raw(), /*group_id=*/0, options_.recv_buffer_count, options_.recv_buffer_bytes));
  now_ = MonotonicNowNanos();
  timers_ = std::make_unique<TimerWheel>(now_);
  self_inbox_.reserve(64);
  return absl::OkStatus();
}

void Shard::SetSink(OpKind kind, CompletionSink* sink) {
  const int index = static_cast<int>(kind);
  RP_CHECK(index > static_cast<int>(OpKind::kNone) && index < kOpKindCount);
  RP_CHECK(kind != OpKind::kWake && kind != OpKind::kSignal);  // the shard's own kinds
  RP_CHECK_MSG(sinks_[index] == nullptr || sink == nullptr, "one sink per OpKind");
  sinks_[index] = sink;
}

void Shard::AddTurnHook(std::function<void()> hook) { turn_hooks_.push_back(std::move(hook)); }

void Shard::AddStopHandler(std::function<void(MonoNanos)> handler) {
  stop_handlers_.push_back(std::move(handler));
}

bool Shard::Post(int target, const Envelope& envelope) {
  RP_CHECK(target >= 0 && target < shard_count());
  RP_CHECK(envelope.function != nullptr);
  if (target == id_) {
    self_inbox_.push_back(envelope);
    return true;
  }
  Envelope item = envelope;
  if (!runtime_.Queue(id_, target).TryPush(item)) return false;
  Shard& peer = runtime_.shard(target);
  // Pairs with the fence in RunOnce(): either the consumer sees our item when it
  // re-checks its inbox, or we see its sleeping flag here. Exchange makes one wake
  // per sleep however many producers race.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (peer.sleeping_.load(std::memory_order_relaxed) &&
      peer.sleeping_.exchange(false, std::memory_order_acq_rel)) {
    SendWake(peer);
  }
  return true;
}

void Shard::SendWake(Shard& target) {
  io_uring_sqe* sqe = ring_.GetSqe();
  io_uring_prep_msg_ring(sqe, target.ring_.fd(), 0, OpTag{0, 0, OpKind::kWake}.Encode(), 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;  // our own CQE only matters on failure
  io_uring_sqe_set_data64(sqe, OpTag{}.Encode());
  // Submit now: the target sleeps until this reaches the kernel.
  ring_.SubmitAndPoll();
  ++wakes_sent_;
}

bool Shard::InboxesLookNonEmpty() const {
  if (!self_inbox_.empty()) return true;
  for (int from = 0; from < shard_count(); ++from) {
    if (from != id_ && !runtime_.Queue(from, id_).EmptyApprox()) return true;
  }
  return false;
}

void Shard::DrainInbox() {
  // Envelopes posted to ourselves while draining run next turn, so a handler that
  // re-posts forever cannot starve the ring.
  self_inbox_draining_.swap(self_inbox_);
  bool ran = !self_inbox_draining_.empty();
  for (const Envelope& e : self_inbox_draining_) e.function(*this, e);
  self_inbox_draining_.clear();
  for (int from = 0; from < shard_count(); ++from) {
    if (from == id_) continue;
    SpscQueue<Envelope>& queue = runtime_.Queue(from, id_);
    for (unsigned i = 0; i < kInboxBatchMax; ++i) {
      std::optional<Envelope> e = queue.TryPop();
      if (!e) break;
      ran = true;
      e->function(*this, *e);
    }
  }
  // What the handlers started (a send, a log write) goes out through this turn's hooks,
  // which run after the wait: the wait must not sleep on it.
  if (ran) turn_requested_ = true;
}

void Shard::RunOnce() {
  before_wait_ = true;
  DrainInbox();
  if (runtime_.stop_requested() && !stopping_) BeginStop();
  bool may_block = !Finished() && !turn_requested_;
  turn_requested_ = false;
  if (may_block) {
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with Post()
    if (InboxesLookNonEmpty() || (runtime_.stop_requested() && !stopping_)) may_block = false;
  }
  if (may_block) {
    ring_.SubmitAndWait(timers_->NextDeadlineNanos(), now_);
  } else {
    ring_.SubmitAndPoll();
  }
  sleeping_.store(false, std::memory_order_relaxed);
  before_wait_ = false;
  now_ = MonotonicNowNanos();
  Completion ready[kCqeBatchMax];
  for (;;) {
    const unsigned n = ring_.Reap(ready, kCqeBatchMax);
    for (unsigned i = 0; i < n; ++i) Dispatch(ready[i]);
    if (n < kCqeBatchMax) break;
  }
  timers_->Advance(now_);
  for (auto& hook : turn_hooks_) hook();
  RunDeferred();
  ++turns_;
}

void Shard::RunLoop() {
  if (id_ == 0) ArmSignalRead();
  while (!Finished()) RunOnce();
  RP_LOG(kDebug) << "shard " << id_ << " stopped after " << turns_ << " turns";
}

bool Shard::Settle() {
  const bool settled = stopping_ && holds_ == 0;
  if (settled && !settled_) {
    settled_ = true;
    runtime_.ShardSettled();
  }
  return settled;
}

bool Shard::HoldForPeer() {
  if (settled_) {
    if (!runtime_.ShardUnsettled()) return false;
    settled_ = false;
  }
  Hold();
  return true;
}

bool Shard::Finished() { return Settle() && runtime_.AllShardsSettled(); }

void Shard::BeginStop() {
  stopping_ = true;
  if (signal_read_armed_) {
    io_uring_sqe* sqe = ring_.GetSqe();
    io_uring_prep_cancel64(sqe, OpTag{0, 0, OpKind::kSignal}.Encode(), 0);
    io_uring_sqe_set_data64(sqe, OpTag{}.Encode());
  }
  const MonoNanos deadline = now_ + runtime_.options().shutdown_grace_nanos;
  for (auto& handler : stop_handlers_) handler(deadline);
}

void Shard::Dispatch(const Completion& completion) {
  const OpTag tag = OpTag::Decode(completion.user_data);
  switch (tag.kind) {
    case OpKind::kNone:
      return;  // cancels and wake sends we did not ask to hear about
    case OpKind::kWake:
      return;  // the wake-up itself is the message; the inbox is drained next turn
    case OpKind::kSignal:
      return OnSignal(completion);
    case OpKind::kAccept:
    case OpKind::kRecv:
    case OpKind::kSend:
    case OpKind::kConnect:
    case OpKind::kFileWrite:
    case OpKind::kFileSync:
    case OpKind::kFileOp:
    case OpKind::kDnsPoll:
    case OpKind::kPasswordCheck:
    case OpKind::kRedisPoll: {
      CompletionSink* sink = sinks_[static_cast<int>(tag.kind)];
      RP_CHECK_MSG(sink != nullptr, "completion for an OpKind with no sink");
      return sink->OnCompletion(completion);
    }
  }
  RP_CHECK_MSG(false, "unknown OpKind in user_data");  // tags only come from OpTag::Encode
}

void Shard::ArmSignalRead() {
  io_uring_sqe* sqe = ring_.GetSqe();
  io_uring_prep_read(sqe, runtime_.signal_fd(), signal_buffer_, sizeof(signalfd_siginfo), 0);
  io_uring_sqe_set_data64(sqe, OpTag{0, 0, OpKind::kSignal}.Encode());
  Hold();  // the read is in flight; released when it completes
  signal_read_armed_ = true;
}

void Shard::OnSignal(const Completion& completion) {
  Release();
  signal_read_armed_ = false;
  if (completion.res == static_cast<int>(sizeof(signalfd_siginfo))) {
    signalfd_siginfo info;
    static_assert(sizeof(info) <= sizeof(signal_buffer_));
    std::memcpy(&info, signal_buffer_, sizeof(info));
    runtime_.HandleSignal(static_cast<int>(info.ssi_signo));
  } else if (completion.res < 0 && completion.res != -ECANCELED && completion.res != -EINTR) {
    RP_LOG(kError) << "signalfd read failed: " << strerror(-completion.res);
  }
  if (!stopping_) ArmSignalRead();
}

}  // namespace ringpost::core
