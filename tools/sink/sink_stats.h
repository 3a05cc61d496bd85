// ringpost-sink's counters, per shard. Written only by the owning shard (relaxed
// atomic stores), read by the printer on shard 0 or main at any time: a snapshot may
// mix moments, each counter is exact.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace ringpost::sink {

// Live and peak connections across every shard: one contended atomic per connect and
// disconnect, never per byte.
struct SinkShared {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> peak{0};
  void Open() {
    const int64_t now = live.fetch_add(1) + 1;
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void Close() { live.fetch_sub(1); }
};

struct SinkCounters {
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> messages{0};    // answered 250 after the final dot / BDAT LAST
  std::atomic<uint64_t> recipients{0};  // accepted recipients of those messages
  std::atomic<uint64_t> bytes{0};       // body bytes of those messages
  std::atomic<uint64_t> replies_4xx{0};
  std::atomic<uint64_t> replies_5xx{0};
  std::atomic<uint64_t> disconnects_injected{0};
  std::atomic<uint64_t> silences_injected{0};
  std::atomic<uint64_t> tls_handshakes{0};

  static void Add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

struct SinkTotals {
  uint64_t connections_total = 0, connections_peak = 0, messages = 0, recipients = 0, bytes = 0,
           replies_4xx = 0, replies_5xx = 0, disconnects_injected = 0, silences_injected = 0,
           tls_handshakes = 0;
};

SinkTotals Sum(const std::vector<SinkCounters*>& shards, const SinkShared& shared);
std::string FormatText(const SinkTotals& totals);
std::string FormatJson(const SinkTotals& totals);

}  // namespace ringpost::sink
