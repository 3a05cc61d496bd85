// The deterministic delivery simulation (tests/sim/delivery_world.h) over many seeds.
// A failure prints its seed; RINGPOST_SIM_SEED=N replays that one run exactly, and
// RINGPOST_SIM_SEEDS=N runs more (or fewer) seeds than CI's default.
#include <cstdio>
#include <cstdlib>

#include "core/log.h"
#include "gtest/gtest.h"
#include "tests/sim/delivery_world.h"

namespace ringpost::sim {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : std::strtoull(value, nullptr, 10);
}

TEST(DeliverySimulation, EveryRecipientEndsOnceWhateverTheNetworkTheDiskAndRestartsDo) {
  core::SetLogLevel(core::LogLevel::kError);  // millions of simulated events log nothing
  const uint64_t one = EnvOr("RINGPOST_SIM_SEED", 0);
  const uint64_t first = one != 0 ? one : 1;
  const uint64_t count = one != 0 ? 1 : EnvOr("RINGPOST_SIM_SEEDS", 300);
  WorldStats total;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    DeliveryWorld world(seed);
    const std::string failure = world.Run();
    ASSERT_EQ(failure, "") << "replay: RINGPOST_SIM_SEED=" << seed << " " << ::testing::UnitTest::GetInstance()
                                                                            ->current_test_info()
                                                                            ->name();
    const WorldStats& s = world.stats();
    total.messages += s.messages;
    total.recipients += s.recipients;
    total.dsns += s.dsns;
    total.restarts += s.restarts;
    total.transactions += s.transactions;
    total.connections += s.connections;
    total.delivered += s.delivered;
    total.bounced += s.bounced;
    total.expired += s.expired;
    total.duplicates += s.duplicates;
    total.steps += s.steps;
    total.suspensions += s.suspensions;
    total.holds += s.holds;
    total.deletes += s.deletes;
    total.operator_bounces += s.operator_bounces;
    total.flushes += s.flushes;
  }
  std::printf(
      "simulated %llu seeds: %llu messages, %llu DSNs, %llu recipients (%llu delivered, %llu bounced, %llu "
      "expired, %llu sent twice for a reason), %llu transactions on %llu connections, %llu restarts, %llu steps\n",
      (unsigned long long)count, (unsigned long long)total.messages, (unsigned long long)total.dsns,
      (unsigned long long)total.recipients, (unsigned long long)total.delivered, (unsigned long long)total.bounced,
      (unsigned long long)total.expired, (unsigned long long)total.duplicates, (unsigned long long)total.transactions,
      (unsigned long long)total.connections, (unsigned long long)total.restarts, (unsigned long long)total.steps);
  std::printf("operators: %llu suspensions, %llu jobs held, %llu deleted, %llu bounced, %llu flushed\n",
              (unsigned long long)total.suspensions, (unsigned long long)total.holds,
              (unsigned long long)total.deletes, (unsigned long long)total.operator_bounces,
              (unsigned long long)total.flushes);
  // The scenarios reach every outcome and fault, or the run proves little.
  EXPECT_GT(total.delivered, 0u);
  EXPECT_GT(total.bounced, 0u);
  EXPECT_GT(total.expired, 0u);
  EXPECT_GT(total.dsns, 0u);
  if (count >= 50) {
    EXPECT_GT(total.restarts, 0u);
    EXPECT_GT(total.duplicates, 0u);
    EXPECT_GT(total.suspensions, 0u);
    EXPECT_GT(total.holds, 0u);
    EXPECT_GT(total.deletes, 0u);
    EXPECT_GT(total.operator_bounces, 0u);
    EXPECT_GT(total.flushes, 0u);
  }
}

TEST(DeliverySimulation, ASeedReplaysTheSameRun) {
  core::SetLogLevel(core::LogLevel::kError);
  DeliveryWorld first(42), second(42);
  ASSERT_EQ(first.Run(), "");
  ASSERT_EQ(second.Run(), "");
  EXPECT_EQ(first.stats().steps, second.stats().steps);
  EXPECT_EQ(first.stats().transactions, second.stats().transactions);
  EXPECT_EQ(first.stats().delivered, second.stats().delivered);
  EXPECT_EQ(first.stats().bounced, second.stats().bounced);
  EXPECT_EQ(first.stats().duplicates, second.stats().duplicates);
}

}  // namespace
}  // namespace ringpost::sim
