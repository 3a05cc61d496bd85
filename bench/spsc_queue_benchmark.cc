// SPSC handoff throughput and latency, two threads (the shard-to-shard queue).
//
// Budget (header comment of core/spsc_queue.h): a push and a pop each touch their own
// index line and, once per batch, the other side's: ~10 ns per item in a stream,
// and a one-way cache-line transfer (~100 ns on one socket) for a round trip.
#include <atomic>
#include <cstdint>
#include <thread>

#include "benchmark/benchmark.h"
#include "core/spsc_queue.h"

namespace {

using ringpost::core::SpscQueue;

// Items per second moved from one thread to another through a queue of range(0) slots.
void BM_SpscQueue_Stream(benchmark::State& state) {
  const size_t capacity = static_cast<size_t>(state.range(0));
  constexpr uint64_t kBatch = 1 << 20;
  uint64_t total = 0;
  for (auto _ : state) {
    SpscQueue<uint64_t> queue(capacity);
    std::thread consumer([&] {
      uint64_t seen = 0;
      while (seen < kBatch) {
        if (auto v = queue.TryPop()) {
          benchmark::DoNotOptimize(*v);
          ++seen;
        }
      }
    });
    for (uint64_t i = 0; i < kBatch;) {
      uint64_t v = i;
      if (queue.TryPush(v)) ++i;
    }
    consumer.join();
    total += kBatch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(total));
}
BENCHMARK(BM_SpscQueue_Stream)->Arg(256)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

// Round-trip latency: one item there, one item back, with both threads spinning.
void BM_SpscQueue_RoundTrip(benchmark::State& state) {
  SpscQueue<uint64_t> there(64), back(64);
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      if (auto v = there.TryPop()) {
        uint64_t reply = *v;
        while (!back.TryPush(reply)) {
        }
      }
    }
  });
  uint64_t i = 0;
  for (auto _ : state) {
    uint64_t v = i++;
    while (!there.TryPush(v)) {
    }
    std::optional<uint64_t> reply;
    while (!(reply = back.TryPop())) {
    }
    benchmark::DoNotOptimize(*reply);
  }
  stop = true;
  echo.join();
}
BENCHMARK(BM_SpscQueue_RoundTrip)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
