// A bounded lock-free single-producer/single-consumer ring.
//
// The only structure shards share (DESIGN.md, Shared nothing): one queue per ordered
// pair of shards. Exactly one thread pushes and exactly one thread pops; both sides
// cache the other's index so the common case touches no shared cache line but its
// own. Items are moved in and out; the queue never allocates after construction.
//
// Memory order: the producer writes the item, then publishes tail_ with release; the
// consumer reads tail_ with acquire before reading the item (and the mirror image for
// head_), so an item is fully visible before its slot is seen as filled.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "core/check.h"

namespace ringpost::core {

inline constexpr size_t kCacheLineBytes = 64;

template <typename T>
class SpscQueue {
 public:
  // `capacity_min` is rounded up to a power of two.
  explicit SpscQueue(size_t capacity_min) {
    RP_CHECK_GT(capacity_min, 0u);
    while (capacity_ < capacity_min) capacity_ <<= 1;
    mask_ = capacity_ - 1;
    slots_ = std::make_unique<Slot[]>(capacity_);
  }
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer side. Returns false (and leaves `item` untouched) when full.
  bool TryPush(T& item) {
    const size_t tail = tail_.value.load(std::memory_order_relaxed);
    if (tail - producer_cached_head_ == capacity_) {
      producer_cached_head_ = head_.value.load(std::memory_order_acquire);
      if (tail - producer_cached_head_ == capacity_) return false;
    }
    slots_[tail & mask_].item = std::move(item);
    tail_.value.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer side. Returns nullopt when empty.
  std::optional<T> TryPop() {
    const size_t head = head_.value.load(std::memory_order_relaxed);
    if (head == consumer_cached_tail_) {
      consumer_cached_tail_ = tail_.value.load(std::memory_order_acquire);
      if (head == consumer_cached_tail_) return std::nullopt;
    }
    std::optional<T> item(std::move(slots_[head & mask_].item));
    head_.value.store(head + 1, std::memory_order_release);
    return item;
  }

  // Either side; exact only when the other side is quiescent.
  bool EmptyApprox() const {
    return head_.value.load(std::memory_order_acquire) == tail_.value.load(std::memory_order_acquire);
  }
  size_t capacity() const { return capacity_; }

 private:
  struct Slot {
    T item{};
  };
  struct alignas(kCacheLineBytes) PaddedIndex {
    std::atomic<size_t> value{0};
  };

  size_t capacity_ = 1;
  size_t mask_ = 0;
  std::unique_ptr<Slot[]> slots_;
  PaddedIndex head_;  // next slot to pop; written by the consumer
  PaddedIndex tail_;  // next slot to push; written by the producer
  alignas(kCacheLineBytes) size_t producer_cached_head_ = 0;
  alignas(kCacheLineBytes) size_t consumer_cached_tail_ = 0;
};

}  // namespace ringpost::core
