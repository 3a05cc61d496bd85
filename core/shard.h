// A shard: one thread, one io_uring, and everything that thread owns.
//
// Shared nothing (DESIGN.md): a shard's ring, timers, buffers, sockets and sessions
// are touched only by its own thread. Other threads reach it only through Post(),
// which moves an Envelope through a bounded SPSC queue and wakes the shard with
// IORING_OP_MSG_RING if — and only if — it is about to sleep (a flag and a fence),
// so a busy shard is never interrupted.
//
// The loop runs fixed phases (STYLE.md, Sketch 3): drain the inbox (bounded), one
// io_uring_enter that blocks only when idle, copy completions out and advance the
// CQ, dispatch them by OpKind to the registered sinks, fire due timers, run turn hooks.
// Handlers never reap.
//
// Lifecycle: created by Runtime, initialised on its own thread, then services are
// installed by the Runtime's setup function. On stop every stop handler is called once
// with the grace deadline; the shards exit together once no shard holds anything.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/buffer_ring.h"
#include "core/clock.h"
#include "core/op_tag.h"
#include "core/ring.h"
#include "core/spsc_queue.h"
#include "core/timer_wheel.h"

namespace ringpost::core {

class Runtime;
class Shard;

// Receives completions of one OpKind (registered with Shard::SetSink).
class CompletionSink {
 public:
  virtual void OnCompletion(const Completion& completion) = 0;

 protected:
  ~CompletionSink() = default;
};

// A unit of cross-shard work: a plain function pointer and its arguments, so a
// handoff never allocates. `receiver` names who handles it (core/sharded.h: the
// registry of per-shard instances, so the target finds its own by its id); ownership
// of whatever `pointer` names moves with it.
struct Envelope {
  void (*function)(Shard& shard, const Envelope& envelope) = nullptr;
  void* receiver = nullptr;
  void* pointer = nullptr;
  uint64_t argument = 0;
  // Frees what `pointer` owns when the envelope is never delivered (still queued when
  // the runtime stops, or no receiver). Null: nothing to free.
  void (*dispose)(void* pointer, uint64_t argument) = nullptr;
  void Dispose() const {
    if (dispose != nullptr) dispose(pointer, argument);
  }
};

// Work that must wait until the stack unwinds (freeing an object whose method is still
// on the stack, a slot whose session is mid-callback): run at the end of the loop turn,
// after completions, timers and turn hooks. One facility for every such case.
struct DeferredCall {
  void (*function)(void* context, uint64_t argument) = nullptr;
  void* context = nullptr;
  uint64_t argument = 0;
};

struct ShardOptions {
  RingOptions ring;
  uint32_t recv_buffer_count = 1024;  // power of two
  uint32_t recv_buffer_bytes = 16 * 1024;
  uint32_t inbox_capacity = 4096;  // per source shard
};

class Shard {
 public:
  static constexpr unsigned kCqeBatchMax = 256;
  static constexpr unsigned kInboxBatchMax = 1024;  // per source shard per turn

  Shard(Runtime& runtime, int id, const ShardOptions& options);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard();

  int id() const { return id_; }
  int shard_count() const;
  Ring& ring() { return ring_; }
  TimerWheel& timers() { return *timers_; }
  BufferRing& buffers() { return buffers_; }
  // The time read at the top of this loop turn.
  MonoNanos now() const { return now_; }
  Runtime& runtime() { return runtime_; }

  // Routes completions of `kind` to `sink` (one sink per kind).
  void SetSink(OpKind kind, CompletionSink* sink);

  // Moves `envelope` to shard `target` (which may be this shard). False when the
  // queue to `target` is full: the caller keeps the item and retries later.
  bool Post(int target, const Envelope& envelope);

  // Makes the next loop turn poll instead of sleeping: for work that is waiting on
  // something no completion will announce (a full handoff queue to retry).
  void RequestTurn() { turn_requested_ = true; }
  // Runs `hook` once per loop turn, after completions and timers.
  void AddTurnHook(std::function<void()> hook);
  // Runs `call` at the end of this loop turn (after the turn hooks), or when the shard
  // is destroyed. Never inside the caller.
  void RunAfterTurn(const DeferredCall& call) {
    deferred_.push_back(call);
    if (before_wait_) RequestTurn();  // this turn's wait must not sleep on it
  }
  // Frees `object` at the end of this loop turn: for an object whose own method (or a
  // caller holding a reference) may still be on the stack.
  template <typename T>
  void DeferDelete(std::unique_ptr<T> object) {
    if (object == nullptr) return;
    RunAfterTurn({[](void* context, uint64_t) { delete static_cast<T*>(context); }, object.release(), 0});
  }
  // Called once when the runtime stops, with the grace deadline.
  void AddStopHandler(std::function<void(MonoNanos deadline)> handler);
  // Live objects hold the shard open after a stop (connections, listeners, work another
  // shard will answer). The loop ends once no shard holds anything (Runtime).
  void Hold() { ++holds_; }
  // A hold for work another shard will answer (its envelope back releases it). False
  // once every shard's loop is ending: the other shard may be gone, so do not wait.
  bool HoldForPeer();
  void Release() {
    RP_CHECK_GT(holds_, 0u);
    --holds_;
  }
  bool stopping() const { return stopping_; }
  // True from the start of a loop turn until its wait for completions returns (and
  // before the loop runs at all): work staged now would sleep through the wait unless
  // it asks for a turn. Turn hooks run after the wait, so they see false.
  bool before_wait() const { return before_wait_; }

  // Constructs a T owned by this shard: it lives until the shard is destroyed (after
  // its thread has exited), and attachments die in reverse order of creation, before
  // the ring, timers and buffers they use.
  template <typename T, typename... Args>
  T& Make(Args&&... args) {
    auto holder = std::make_unique<Attachment<T>>(std::forward<Args>(args)...);
    T& value = holder->value;
    attachments_.push_back(std::move(holder));
    return value;
  }
  uint64_t wakes_sent() const { return wakes_sent_; }
  uint64_t turns() const { return turns_; }

 private:
  friend class Runtime;
  absl::Status InitOnThread();
  void RunLoop();
  void RunOnce();
  void DrainInbox();
  bool InboxesLookNonEmpty() const;
  void Dispatch(const Completion& completion);
  void SendWake(Shard& target);
  void BeginStop();
  // Stopping with nothing held; reported to the runtime on each change (a shard that
  // settled takes part again only through HoldForPeer: local I/O it only finishes).
  bool Settle();
  bool Finished();  // settled, and so is every other shard: the loop ends
  void ArmSignalRead();
  void OnSignal(const Completion& completion);

  struct AttachmentBase {
    virtual ~AttachmentBase() = default;
  };
  template <typename T>
  struct Attachment final : AttachmentBase {
    template <typename... Args>
    explicit Attachment(Args&&... args) : value(std::forward<Args>(args)...) {}
    T value;
  };

  Runtime& runtime_;
  const int id_;
  const ShardOptions options_;
  Ring ring_;
  BufferRing buffers_;
  std::unique_ptr<TimerWheel> timers_;
  MonoNanos now_ = 0;
  CompletionSink* sinks_[kOpKindCount] = {};
  std::vector<Envelope> self_inbox_;
  std::vector<Envelope> self_inbox_draining_;
  std::vector<std::function<void()>> turn_hooks_;
  std::vector<DeferredCall> deferred_;
  std::vector<DeferredCall> deferred_running_;
  void RunDeferred();
  std::vector<std::function<void(MonoNanos)>> stop_handlers_;
  uint32_t holds_ = 0;
  bool stopping_ = false;
  bool settled_ = false;  // as the runtime last heard
  bool before_wait_ = true;
  bool signal_read_armed_ = false;
  bool turn_requested_ = false;
  uint64_t wakes_sent_ = 0;
  uint64_t turns_ = 0;
  alignas(kCacheLineBytes) std::atomic<bool> sleeping_{false};
  alignas(kCacheLineBytes) char signal_buffer_[128] = {};     // one signalfd_siginfo
  std::vector<std::unique_ptr<AttachmentBase>> attachments_;  // destroyed first (see ~Shard)
};

}  // namespace ringpost::core
