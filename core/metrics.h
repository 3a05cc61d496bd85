// The figures /metrics shows (--metrics_listen; DESIGN.md: prefix ringpost_, counters
// end in _total, bounded label sets).
//
// Every shard owns one slot and copies its components' plain counters into it once a
// second (relaxed atomic stores: the hot paths keep their unshared counters and pay
// nothing); the metrics endpoint sums the slots. A figure is at most a second old.
//
// Beside the plain figures: histograms with fixed buckets (time in queue, delivery
// latency), summed over the shards, and the deepest destinations with their depth and
// oldest age, the only labelled figures: at most --metrics_top_destinations domains
// (each domain lives on one shard, so the top N overall are among each shard's top N),
// and the suspended ones.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ringpost::core {

enum class Metric : int {
  kConnectionsAccepted,
  kConnectionsOpen,
  kConnectionsRefused,
  kProxyHeadersRefused,
  kBytesReceived,
  kBytesSent,
  kMessagesAccepted,
  kCommandsRefused,
  kTlsHandshakes,
  kTlsFailures,
  kDeliveryJobs,
  kDeliveryAttempts,
  kRecipientsDelivered,
  kRecipientsDeferred,
  kRecipientsBounced,
  kRecipientsExpired,
  kDsnsQueued,
  kOutboundConnectionsOpened,
  kOutboundConnectionFailures,
  kLogCommits,
  kLogSyncs,
  kLogWriteBytes,
  kLogSegments,
  kLogFailures,
  kBodiesFromMemory,
  kBodiesFromLog,
  kDnsLookups,
  kDnsCacheHits,
  kDkimSigned,
  kDkimUnsigned,
  kDkimRefusedUnsigned,
  kDkimPass,
  kDkimFail,
  kDkimNeutral,
  kDkimTempError,
  kDkimPermError,
  kDkimNone,
  kDkimForgedResultsRemoved,
  kShapingSuspend,
  kShapingSetRate,
  kShapingSetConnectionLimit,
  kShapingBounce,
  kShapingTemporary,
  kShapingWaits,
  kSharedRateCalls,
  kSharedRateTokensGranted,
  kSharedRateTokensReturned,
  kClusterFallbacks,
  kSharedLimitsInRedis,
  kCount,
};
inline constexpr size_t kMetricCount = static_cast<size_t>(Metric::kCount);

struct MetricInfo {
  const char* name;  // without the ringpost_ prefix
  bool counter;      // else a gauge
  const char* help;
};
const MetricInfo& InfoOf(Metric metric);

// Histograms (seconds), with fixed upper bounds per kind.
enum class HistogramKind : int { kTimeInQueue, kDeliveryLatency, kCount };
inline constexpr size_t kHistogramCount = static_cast<size_t>(HistogramKind::kCount);
inline constexpr size_t kHistogramBucketsMax = 12;

// One histogram's counts, kept unshared by its owner (a shard's scheduler).
struct HistogramCounts {
  std::array<uint64_t, kHistogramBucketsMax> buckets{};  // per bound, not cumulative; the last: +Inf
  uint64_t count = 0;
  double sum = 0;
  void Observe(HistogramKind kind, double seconds);
};

// A destination as /metrics shows it.
struct DestinationGauge {
  std::string domain;
  uint64_t recipients = 0;
  double oldest_age_seconds = 0;
  bool suspended = false;
};

class MetricsBoard {
 public:
  explicit MetricsBoard(int shards);
  // By the shard that owns `shard`'s slot.
  void Set(int shard, Metric metric, uint64_t value) {
    slots_[static_cast<size_t>(shard)].values[static_cast<size_t>(metric)].store(value,
                                                                                 std::memory_order_relaxed);
  }
  void SetHistogram(int shard, HistogramKind kind, const HistogramCounts& counts);
  // The shard's deepest destinations (and suspended ones), once a second.
  void SetDestinations(int shard, std::vector<DestinationGauge> destinations, uint64_t suspended);
  // Failed delivery attempts by class (queue/schedule/bounce_class.h): the class names,
  // set before the shards start, then each shard's counts in that order.
  static constexpr size_t kFailureClassesMax = 16;
  void set_failure_classes(std::vector<std::string> names) { failure_classes_ = std::move(names); }
  void SetFailures(int shard, size_t failure_class, uint64_t count) {
    slots_[static_cast<size_t>(shard)].failures[failure_class].store(count, std::memory_order_relaxed);
  }
  // How many destinations to show (0: none); set before the shards start.
  void set_top_destinations(size_t top) { top_destinations_ = top; }
  size_t top_destinations() const { return top_destinations_; }
  // From any thread.
  uint64_t Sum(Metric metric) const;
  // The Prometheus text exposition format (version 0.0.4).
  std::string RenderPrometheus() const;

 private:
  struct HistogramSlot {
    std::array<std::atomic<uint64_t>, kHistogramBucketsMax> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_micros{0};
  };
  struct alignas(64) Slot {
    std::array<std::atomic<uint64_t>, kMetricCount> values{};
    std::array<HistogramSlot, kHistogramCount> histograms;
    std::atomic<uint64_t> suspended{0};
    std::array<std::atomic<uint64_t>, kFailureClassesMax> failures{};
    mutable std::mutex destinations_mutex;  // taken once a second by the owner and per scrape
    std::vector<DestinationGauge> destinations;
  };
  void RenderHistograms(std::string* out) const;
  void RenderDestinations(std::string* out) const;
  void RenderFailures(std::string* out) const;
  size_t top_destinations_ = 50;
  std::vector<std::string> failure_classes_;
  const int shards_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace ringpost::core
