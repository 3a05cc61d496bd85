// Timer wheel costs at session-timeout scale: re-arming an idle timer on every recv
// must be O(1) and cheap next to the recv itself.
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/timer_wheel.h"

namespace {

using ringpost::core::kNanosPerMilli;
using ringpost::core::TimerNode;
using ringpost::core::TimerWheel;

void BM_TimerWheel_Rearm(benchmark::State& state) {
  const int timers = static_cast<int>(state.range(0));
  TimerWheel wheel(0);
  int fired = 0;
  std::vector<std::unique_ptr<TimerNode>> nodes;
  for (int i = 0; i < timers; ++i) {
    nodes.push_back(std::make_unique<TimerNode>([](void* p) { ++*static_cast<int*>(p); }, &fired));
    wheel.Schedule(nodes.back().get(), (300'000 + i % 1000) * kNanosPerMilli);
  }
  int64_t i = 0;
  for (auto _ : state) {
    wheel.Schedule(nodes[i % timers].get(), (300'000 + i % 5000) * kNanosPerMilli);
    ++i;
  }
  for (auto& node : nodes) wheel.Cancel(node.get());
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerWheel_Rearm)->Arg(1000)->Arg(100000);

void BM_TimerWheel_AdvanceIdle(benchmark::State& state) {
  TimerWheel wheel(0);
  int fired = 0;
  std::vector<std::unique_ptr<TimerNode>> nodes;
  for (int i = 0; i < 10000; ++i) {
    nodes.push_back(std::make_unique<TimerNode>([](void* p) { ++*static_cast<int*>(p); }, &fired));
    wheel.Schedule(nodes.back().get(), (3'600'000 + i) * kNanosPerMilli);
  }
  int64_t now = 0;
  for (auto _ : state) {
    now += kNanosPerMilli;  // one tick per loop turn, nothing due
    wheel.Advance(now);
    benchmark::DoNotOptimize(wheel.NextDeadlineNanos());
  }
  for (auto& node : nodes) wheel.Cancel(node.get());
}
BENCHMARK(BM_TimerWheel_AdvanceIdle);

}  // namespace

BENCHMARK_MAIN();
