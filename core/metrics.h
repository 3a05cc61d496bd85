// The figures /metrics shows (--metrics_listen; DESIGN.md: prefix ringpost_, counters
// end in _total, bounded label sets — here none).
//
// Every shard owns one slot and copies its components' plain counters into it once a
// second (relaxed atomic stores: the hot paths keep their unshared counters and pay
// nothing); the metrics endpoint sums the slots. A figure is at most a second old.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace ringpost::core {

enum class Metric : int {
  kConnectionsAccepted,
  kConnectionsOpen,
  kConnectionsRefused,
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
  kDnsLookups,
  kDnsCacheHits,
  kCount,
};
inline constexpr size_t kMetricCount = static_cast<size_t>(Metric::kCount);

struct MetricInfo {
  const char* name;  // without the ringpost_ prefix
  bool counter;      // else a gauge
  const char* help;
};
const MetricInfo& InfoOf(Metric metric);

class MetricsBoard {
 public:
  explicit MetricsBoard(int shards);
  // By the shard that owns `shard`'s slot.
  void Set(int shard, Metric metric, uint64_t value) {
    slots_[static_cast<size_t>(shard)].values[static_cast<size_t>(metric)].store(value,
                                                                                 std::memory_order_relaxed);
  }
  // From any thread.
  uint64_t Sum(Metric metric) const;
  // The Prometheus text exposition format (version 0.0.4).
  std::string RenderPrometheus() const;

 private:
  struct alignas(64) Slot {
    std::array<std::atomic<uint64_t>, kMetricCount> values{};
  };
  const int shards_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace ringpost::core
