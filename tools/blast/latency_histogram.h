// A log-linear latency histogram in microseconds (16 sub-buckets per power of two,
// about 6% precision up to hours). One writer (its shard) with relaxed atomic adds,
// any number of readers (the progress line), merged for percentiles at the end.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace ringpost::blast {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 4;
  static constexpr int kBuckets = 64 << kSubBits;

  void Record(uint64_t micros) {
    auto& b = buckets_[Index(micros)];
    b.store(b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t Count(int bucket) const { return buckets_[bucket].load(std::memory_order_relaxed); }

  static int Index(uint64_t v) {
    if (v < (uint64_t{1} << kSubBits)) return static_cast<int>(v);
    const int magnitude = 63 - __builtin_clzll(v);  // >= kSubBits
    const int shift = magnitude - kSubBits;
    const int sub = static_cast<int>((v >> shift) & ((1 << kSubBits) - 1));
    return ((shift + 1) << kSubBits) + sub;
  }
  // The largest value that falls in `bucket` (percentiles err on the high side).
  static uint64_t UpperBound(int bucket) {
    if (bucket < (1 << kSubBits)) return static_cast<uint64_t>(bucket);
    const int shift = (bucket >> kSubBits) - 1;
    const uint64_t sub = static_cast<uint64_t>(bucket & ((1 << kSubBits) - 1));
    return ((((uint64_t{1} << kSubBits) | sub) + 1) << shift) - 1;
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

// Percentile (0..100) over several histograms; 0 when empty.
inline uint64_t Percentile(const std::vector<const LatencyHistogram*>& histograms, double percent) {
  uint64_t total = 0;
  for (const auto* h : histograms) {
    for (int b = 0; b < LatencyHistogram::kBuckets; ++b) total += h->Count(b);
  }
  if (total == 0) return 0;
  const uint64_t rank = static_cast<uint64_t>(percent / 100.0 * static_cast<double>(total - 1)) + 1;
  uint64_t seen = 0;
  for (int b = 0; b < LatencyHistogram::kBuckets; ++b) {
    for (const auto* h : histograms) seen += h->Count(b);
    if (seen >= rank) return LatencyHistogram::UpperBound(b);
  }
  return LatencyHistogram::UpperBound(LatencyHistogram::kBuckets - 1);
}

}  // namespace ringpost::blast
