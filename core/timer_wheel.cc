#include "core/timer_wheel.h"

#include "core/check.h"

namespace ringpost::core {

static_assert((TimerWheel::kSlots & (TimerWheel::kSlots - 1)) == 0, "slots must be a power of two");

TimerNode::~TimerNode() { RP_CHECK_MSG(!armed(), "a timer node died while armed"); }

TimerWheel::TimerWheel(MonoNanos now) : current_tick_(TickOf(now)) {}

void TimerWheel::Link(List& list, uint32_t list_id, TimerNode* node) {
  RP_DCHECK(!node->armed());
  node->prev_ = nullptr;
  node->next_ = list.head;
  if (list.head != nullptr) list.head->prev_ = node;
  list.head = node;
  node->list_ = list_id;
  if (list_id < kSlots) occupied_[list_id / 64] |= uint64_t{1} << (list_id % 64);
  ++armed_count_;
}

void TimerWheel::Unlink(TimerNode* node) {
  RP_CHECK(node->armed());
  List& list = ListFor(node->list_);
  if (node->prev_ != nullptr) {
    node->prev_->next_ = node->next_;
  } else {
    RP_CHECK(list.head == node);
    list.head = node->next_;
  }
  if (node->next_ != nullptr) node->next_->prev_ = node->prev_;
  if (node->list_ < kSlots && list.head == nullptr) {
    occupied_[node->list_ / 64] &= ~(uint64_t{1} << (node->list_ % 64));
  }
  node->prev_ = node->next_ = nullptr;
  node->list_ = TimerNode::kNotArmed;
  RP_CHECK_GT(armed_count_, 0u);
  --armed_count_;
}

void TimerWheel::Schedule(TimerNode* node, MonoNanos deadline) {
  RP_CHECK(node->callback_ != nullptr);
  if (node->armed()) Unlink(node);
  // Round up: a timer must never fire before its deadline.
  int64_t tick = TickOf(deadline) + (deadline % kTickNanos != 0 ? 1 : 0);
  if (tick <= current_tick_) tick = current_tick_ + 1;  // already due: next Advance
  node->deadline_tick_ = tick;
  const uint32_t slot = static_cast<uint32_t>(tick & (kSlots - 1));
  Link(slots_[slot], slot, node);
}

void TimerWheel::Cancel(TimerNode* node) {
  if (node->armed()) Unlink(node);
}

void TimerWheel::CollectDue(size_t slot, int64_t now_tick) {
  TimerNode* node = slots_[slot].head;
  while (node != nullptr) {
    TimerNode* next = node->next_;
    if (node->deadline_tick_ <= now_tick) {
      Unlink(node);
      Link(firing_, TimerNode::kFiringList, node);
    }
    node = next;
  }
}

void TimerWheel::Advance(MonoNanos now) {
  const int64_t now_tick = TickOf(now);
  if (now_tick <= current_tick_) return;
  // Visit each slot between the last processed tick and now once; a gap longer than a
  // lap visits every slot once.
  // Empty slots are skipped a bitmap word at a time.
  const int64_t ticks = now_tick - current_tick_;
  const int64_t visits = ticks < static_cast<int64_t>(kSlots) ? ticks : kSlots;
  for (int64_t i = 1; i <= visits;) {
    const size_t slot = static_cast<size_t>((current_tick_ + i) & (kSlots - 1));
    const uint64_t word = occupied_[slot / 64] >> (slot % 64);
    if (word == 0) {
      i += static_cast<int64_t>(64 - slot % 64);
      continue;
    }
    i += __builtin_ctzll(word);
    if (i > visits) break;
    CollectDue(static_cast<size_t>((current_tick_ + i) & (kSlots - 1)), now_tick);
    ++i;
  }
  current_tick_ = now_tick;
  // Callbacks run after collection, so they may re-arm into any slot (including the
  // one being visited) and cancel nodes still waiting on the firing list.
  while (firing_.head != nullptr) {
    TimerNode* node = firing_.head;
    Unlink(node);
    node->callback_(node->context_);
  }
}

MonoNanos TimerWheel::NextDeadlineNanos() const {
  if (armed_count_ == 0) return kNever;
  // Find the first occupied slot after the current tick, scanning the bitmap one word
  // at a time (64 words per lap).
  const size_t start = static_cast<size_t>((current_tick_ + 1) & (kSlots - 1));
  for (size_t scanned = 0; scanned < kSlots + 64;) {
    const size_t slot = (start + scanned) & (kSlots - 1);
    const uint64_t word = occupied_[slot / 64] >> (slot % 64);
    if (word != 0) {
      const size_t distance = scanned + static_cast<size_t>(__builtin_ctzll(word));
      return (current_tick_ + 1 + static_cast<int64_t>(distance)) * kTickNanos;
    }
    scanned += 64 - slot % 64;
  }
  return (current_tick_ + 1) * kTickNanos;  // only the firing list: wake now
}

}  // namespace ringpost::core
