// Monotonic time for the runtime. Engines never read a clock: the shard reads this
// once per loop turn and passes the value in, so tests can inject any time they like.
#pragma once

#include <time.h>

#include <cstdint>

namespace ringpost::core {

// Nanoseconds on CLOCK_MONOTONIC.
using MonoNanos = int64_t;

inline MonoNanos MonotonicNowNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline constexpr MonoNanos kNanosPerMilli = 1'000'000;
inline constexpr MonoNanos kNanosPerSecond = 1'000'000'000;

}  // namespace ringpost::core
