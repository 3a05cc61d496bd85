// A destination's throttle (queue/schedule/throttle.h) with a fake clock: GCRA pacing,
// thresholds of reply-driven rules, suspension and the ramp back up, overrides.
#include "queue/schedule/throttle.h"

#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1800000000);

Rate R(const char* text) { return *Rate::Parse(text); }

// Messages a throttle lets through in `span`, each started as soon as it may.
int Started(Throttle& throttle, absl::Time from, absl::Duration span) {
  int started = 0;
  absl::Time now = from;
  while (true) {
    const absl::Time at = throttle.MessageAt(now);
    if (at >= from + span) return started;
    now = std::max(now, at);
    throttle.TakeMessage(now);
    ++started;
  }
}

TEST(GcraTest, PacesToTheRateWithABoundedBurst) {
  Gcra gcra;
  gcra.set_rate(R("100/s"));
  // Interval 10 ms, tolerance 50 ms: six at once, then one every 10 ms.
  int at_once = 0;
  while (gcra.TryTake(kStart)) ++at_once;
  EXPECT_EQ(at_once, 6);
  EXPECT_EQ(gcra.NextAt(kStart), kStart + absl::Milliseconds(10));
  EXPECT_FALSE(gcra.TryTake(kStart + absl::Milliseconds(9)));
  EXPECT_TRUE(gcra.TryTake(kStart + absl::Milliseconds(10)));
}

TEST(GcraTest, SuspendedRateLetsNothingThrough) {
  Gcra gcra;
  gcra.set_rate(R("0"));
  EXPECT_EQ(gcra.NextAt(kStart), absl::InfiniteFuture());
  EXPECT_FALSE(gcra.TryTake(kStart));
}

TEST(ThrottleTest, MessageRateHoldsOverAMinute) {
  for (const char* rate : {"100/s", "1000/s", "5000/h"}) {
    Throttle throttle;
    throttle.Configure(R(rate), std::nullopt, std::nullopt);
    const int started = Started(throttle, kStart, absl::Seconds(60));
    const double expected = 60.0 / absl::ToDoubleSeconds(R(rate).interval());
    // Exact but for the first burst (50 ms worth, or one interval).
    EXPECT_GE(started, expected) << rate;
    EXPECT_LE(started, expected + std::max(1.0, 0.05 / absl::ToDoubleSeconds(R(rate).interval())) + 1)
        << rate;
  }
}

TEST(ThrottleTest, SharesOfASpreadDestinationAddUpToTheLimit) {
  const Rate limit = R("1000/s");
  int total = 0;
  for (int shard = 0; shard < 3; ++shard) {
    Throttle share;
    share.Configure(limit.Share(3), std::nullopt, std::nullopt);
    total += Started(share, kStart, absl::Seconds(60));
  }
  EXPECT_LE(total, 60000 + 3 * 20);  // each share's first burst at most
  EXPECT_GE(total, 59900);
}

TEST(ThrottleTest, ConnectionRateAndLimit) {
  Throttle throttle;
  throttle.Configure(std::nullopt, R("1/s"), 4u);
  EXPECT_EQ(throttle.MessageAt(kStart), kStart);  // no message rate: unlimited
  EXPECT_EQ(*throttle.ConnectionLimit(kStart), 4u);
  throttle.TakeConnection(kStart);
  throttle.TakeConnection(kStart);
  EXPECT_EQ(throttle.ConnectionAt(kStart), kStart + absl::Seconds(1));
  throttle.SetConnectionLimit(1, kStart + absl::Minutes(5));
  EXPECT_EQ(*throttle.ConnectionLimit(kStart + absl::Minutes(4)), 1u);
  EXPECT_EQ(*throttle.ConnectionLimit(kStart + absl::Minutes(5)), 4u);  // the override lapsed
}

TEST(ThrottleTest, ThresholdCountsMatchesWithinTheWindow) {
  Throttle throttle;
  // 3 within a minute: at 0 s, 30 s, 75 s (the first fell out), 80 s (the third).
  EXPECT_FALSE(throttle.Hit(7, 3, absl::Minutes(1), kStart));
  EXPECT_FALSE(throttle.Hit(7, 3, absl::Minutes(1), kStart + absl::Seconds(30)));
  EXPECT_FALSE(throttle.Hit(7, 3, absl::Minutes(1), kStart + absl::Seconds(75)));
  EXPECT_FALSE(throttle.Idle(kStart + absl::Seconds(76)));  // matches remembered
  EXPECT_TRUE(throttle.Hit(7, 3, absl::Minutes(1), kStart + absl::Seconds(80)));
  // Another rule counts on its own; after firing, the count starts again.
  EXPECT_TRUE(throttle.Hit(8, 1, absl::Minutes(1), kStart + absl::Seconds(80)));
  EXPECT_FALSE(throttle.Hit(7, 3, absl::Minutes(1), kStart + absl::Seconds(81)));
  EXPECT_TRUE(throttle.Idle(kStart + absl::Minutes(10)));
}

TEST(ThrottleTest, SuspensionThenARampThatDoublesUpToTheConfiguredRate) {
  Throttle throttle;
  throttle.Configure(R("8/s"), std::nullopt, std::nullopt);
  const absl::Time until = kStart + absl::Minutes(10);
  throttle.Suspend(until, "421 4.7.28 rate limited", R("1/s"), std::nullopt, absl::Minutes(1));
  EXPECT_EQ(throttle.MessageAt(kStart), until);
  EXPECT_EQ(throttle.MessageAt(until - absl::Seconds(1)), until);
  EXPECT_FALSE(throttle.Idle(kStart));
  // 1/s for a minute, then 2/s, 4/s, and the configured 8/s, where the ramp ends.
  EXPECT_EQ(throttle.MessageRate(until)->ToString(), "1/s");
  EXPECT_EQ(throttle.MessageRate(until + absl::Seconds(61))->ToString(), "2/s");
  EXPECT_EQ(throttle.MessageRate(until + absl::Seconds(121))->ToString(), "4/s");
  EXPECT_EQ(throttle.MessageRate(until + absl::Seconds(181))->ToString(), "8/s");
  EXPECT_FALSE(throttle.RampRate(until + absl::Seconds(181)).has_value());
  const int first_minute = Started(throttle, until, absl::Seconds(60));
  EXPECT_GE(first_minute, 60);
  EXPECT_LE(first_minute, 62);
}

TEST(ThrottleTest, RampWithoutAConfiguredRateEndsAtSixtyFourTimesItsStart) {
  Throttle throttle;
  throttle.Suspend(kStart, "x", R("1/s"), std::nullopt, absl::Seconds(10));
  EXPECT_EQ(throttle.MessageRate(kStart + absl::Seconds(55))->ToString(), "32/s");
  EXPECT_FALSE(throttle.MessageRate(kStart + absl::Seconds(60)).has_value());  // unlimited again
  Throttle capped;
  capped.Suspend(kStart, "x", R("1/s"), R("4/s"), absl::Seconds(10));
  EXPECT_EQ(capped.MessageRate(kStart + absl::Seconds(15))->ToString(), "2/s");
  EXPECT_FALSE(capped.MessageRate(kStart + absl::Seconds(20)).has_value());
}

TEST(ThrottleTest, SetRateLowersTheRateForAWhile) {
  Throttle throttle;
  throttle.Configure(R("100/s"), std::nullopt, std::nullopt);
  throttle.SetRate(R("10/m"), kStart + absl::Minutes(30));
  EXPECT_EQ(throttle.MessageRate(kStart)->ToString(), "10/m");
  EXPECT_EQ(throttle.MessageRate(kStart + absl::Minutes(30))->ToString(), "100/s");
  // An override never raises a rate.
  throttle.SetRate(R("1000/s"), kStart + absl::Minutes(60));
  EXPECT_EQ(throttle.MessageRate(kStart)->ToString(), "100/s");
}

TEST(ThrottleTest, ResumeEndsASuspensionAndStartsItsRamp) {
  Throttle throttle;
  throttle.Suspend(kStart + absl::Hours(1), "x", std::nullopt, std::nullopt, absl::Minutes(1));
  throttle.Resume(kStart);
  EXPECT_EQ(throttle.MessageAt(kStart), kStart);
  Throttle ramped;
  ramped.Suspend(kStart + absl::Hours(1), "x", R("1/s"), std::nullopt, absl::Minutes(1));
  ramped.Resume(kStart + absl::Minutes(1));
  EXPECT_EQ(ramped.MessageRate(kStart + absl::Minutes(1))->ToString(), "1/s");
}

}  // namespace
}  // namespace ringpost::queue
