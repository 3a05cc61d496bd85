// Traffic shaping's engines: parsing a shaping file of 100,000 destinations (and the
// memory its policy keeps per destination, measured by the allocator once the TOML tree
// is gone), a destination's settings looked up, and a message's pass through a
// destination's throttle (GCRA). The end-to-end figures (rates held, CPU with shaping on
// and off) come from bench/shaping_benchmark.sh.
#include <malloc.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "queue/schedule/shaping.h"
#include "queue/schedule/throttle.h"

namespace ringpost::queue {
namespace {

std::string ManyDestinations(int count) {
  std::string text;
  for (int k = 0; k < count; ++k) {
    absl::StrAppend(&text, "[destination.\"d", k, ".blast.test\"]\nmax_message_rate = \"", 100 + k % 900,
                    "/s\"\n");
  }
  return text;
}

size_t HeapInUse() { return mallinfo2().uordblks; }

void BM_ParseShapingFile(benchmark::State& state) {
  const int destinations = static_cast<int>(state.range(0));
  const std::string text = ManyDestinations(destinations);
  size_t kept = 0;
  for (auto _ : state) {
    const size_t before = HeapInUse();
    absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(text, "bench.toml");
    if (!policy.ok()) state.SkipWithError(std::string(policy.status().message()).c_str());
    kept = HeapInUse() - before;  // the policy alone: the parse tree is freed
    benchmark::DoNotOptimize(policy);
  }
  state.counters["destinations/s"] =
      benchmark::Counter(static_cast<double>(destinations) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["bytes/destination"] = static_cast<double>(kept) / destinations;
  state.counters["file_bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_ParseShapingFile)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_SettingsFor(benchmark::State& state) {
  const ShapingPolicy policy = *ShapingPolicy::Parse(ManyDestinations(100000), "bench.toml");
  int k = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(policy.SettingsFor(absl::StrCat("d", k, ".blast.test"), ""));
    k = (k + 7919) % 100000;
  }
}
BENCHMARK(BM_SettingsFor);

void BM_ThrottleMessage(benchmark::State& state) {
  Throttle throttle;
  throttle.Configure(*Rate::Parse("1000000000/s"), std::nullopt, std::nullopt);
  absl::Time now = absl::FromUnixSeconds(1800000000);
  for (auto _ : state) {
    now += absl::Nanoseconds(2);
    if (throttle.MessageAt(now) <= now) throttle.TakeMessage(now);
  }
}
BENCHMARK(BM_ThrottleMessage);

}  // namespace
}  // namespace ringpost::queue

BENCHMARK_MAIN();
