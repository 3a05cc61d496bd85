// Timers for one shard: a hashed timing wheel with intrusive nodes.
//
// Owned by one shard thread; not thread-safe. Nodes belong to their owners (a
// connection embeds its idle timer), so arming, re-arming and cancelling are O(1)
// and never allocate: tens of thousands of session timeouts cost a few pointers each.
// The shard sleeps in io_uring_enter until NextDeadlineNanos() (the ring's own
// timeout), then calls Advance() with the time it read; the wheel never reads a clock.
//
// Resolution is one tick (1 ms). A timer fires at the first Advance() whose time
// is at or past its deadline, never before. A slot holds timers of every lap
// (deadline tick modulo kSlots); a later lap's timer just stays in the slot.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/clock.h"

namespace ringpost::core {

class TimerWheel;

class TimerNode {
 public:
  using Callback = void (*)(void* context);
  TimerNode() = default;
  TimerNode(Callback callback, void* context) : callback_(callback), context_(context) {}
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;
  ~TimerNode();  // a node must be cancelled before it dies (checked)

  void Bind(Callback callback, void* context) {
    callback_ = callback;
    context_ = context;
  }
  bool armed() const { return list_ != kNotArmed; }
  // The tick it fires at (meaningful while armed).
  int64_t deadline_tick() const { return deadline_tick_; }

 private:
  friend class TimerWheel;
  static constexpr uint32_t kNotArmed = 0xFFFFFFFFu;
  static constexpr uint32_t kFiringList = 0xFFFFFFFEu;
  TimerNode* prev_ = nullptr;
  TimerNode* next_ = nullptr;
  int64_t deadline_tick_ = 0;
  uint32_t list_ = kNotArmed;  // slot index, kFiringList, or kNotArmed
  Callback callback_ = nullptr;
  void* context_ = nullptr;
};

class TimerWheel {
 public:
  static constexpr MonoNanos kTickNanos = kNanosPerMilli;
  static constexpr size_t kSlots = 4096;
  static constexpr MonoNanos kNever = INT64_MAX;

  explicit TimerWheel(MonoNanos now);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms (or re-arms) `node` to fire at `deadline`. A deadline in the past fires at
  // the first Advance() a tick later (callbacks never run inside Schedule()).
  void Schedule(TimerNode* node, MonoNanos deadline);
  void Cancel(TimerNode* node);

  // Fires every timer whose deadline is at or before `now`, in no promised order.
  // Callbacks may arm and cancel any timer, including themselves.
  void Advance(MonoNanos now);

  // The time the shard should wake at, or kNever. May be early (a slot holding only
  // a later lap's timers); never late.
  MonoNanos NextDeadlineNanos() const;

  size_t armed_count() const { return armed_count_; }

 private:
  struct List {
    TimerNode* head = nullptr;
  };
  void Link(List& list, uint32_t list_id, TimerNode* node);
  void Unlink(TimerNode* node);
  void CollectDue(size_t slot, int64_t now_tick);
  List& ListFor(uint32_t list_id) { return list_id == TimerNode::kFiringList ? firing_ : slots_[list_id]; }

  static int64_t TickOf(MonoNanos t) { return t / kTickNanos; }

  std::array<List, kSlots> slots_;
  std::array<uint64_t, kSlots / 64> occupied_{};  // bit per non-empty slot
  List firing_;
  int64_t current_tick_;  // every slot up to and including this tick has been processed
  size_t armed_count_ = 0;
};

}  // namespace ringpost::core
