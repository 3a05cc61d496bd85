#include "core/timer_wheel.h"

#include <vector>

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

constexpr MonoNanos kMs = kNanosPerMilli;

struct Fired {
  std::vector<int> order;
};

struct Probe {
  Probe(Fired* f, int i) : fired(f), id(i) {}
  Fired* fired;
  int id;
  TimerNode node{[](void* self) {
                   auto* p = static_cast<Probe*>(self);
                   p->fired->order.push_back(p->id);
                 },
                 this};
};

TEST(TimerWheelTest, FiresAtOrAfterDeadlineNeverBefore) {
  TimerWheel wheel(1000 * kMs);
  Fired fired;
  Probe a{&fired, 1};
  wheel.Schedule(&a.node, 1005 * kMs + 1);  // rounds up to tick 1006
  wheel.Advance(1005 * kMs);
  EXPECT_TRUE(fired.order.empty());
  wheel.Advance(1006 * kMs);
  EXPECT_EQ(fired.order, std::vector<int>{1});
  EXPECT_FALSE(a.node.armed());
  EXPECT_EQ(wheel.armed_count(), 0u);
}

TEST(TimerWheelTest, CancelledTimerNeverFires) {
  TimerWheel wheel(0);
  Fired fired;
  Probe a{&fired, 1};
  wheel.Schedule(&a.node, 10 * kMs);
  wheel.Cancel(&a.node);
  wheel.Advance(100 * kMs);
  EXPECT_TRUE(fired.order.empty());
}

TEST(TimerWheelTest, RescheduleMovesTheTimer) {
  TimerWheel wheel(0);
  Fired fired;
  Probe a{&fired, 1};
  wheel.Schedule(&a.node, 10 * kMs);
  wheel.Schedule(&a.node, 50 * kMs);
  wheel.Advance(20 * kMs);
  EXPECT_TRUE(fired.order.empty());
  wheel.Advance(50 * kMs);
  EXPECT_EQ(fired.order, std::vector<int>{1});
}

TEST(TimerWheelTest, TimersBeyondOneLapWaitForTheirLap) {
  TimerWheel wheel(0);
  Fired fired;
  Probe far{&fired, 2};
  const MonoNanos lap = TimerWheel::kSlots * TimerWheel::kTickNanos;
  wheel.Schedule(&far.node, lap + 7 * kMs);
  // Step through the first lap tick by tick: the slot is visited but the timer waits.
  for (MonoNanos t = kMs; t < lap + 7 * kMs; t += 64 * kMs) wheel.Advance(t);
  EXPECT_TRUE(fired.order.empty());
  wheel.Advance(lap + 7 * kMs);
  EXPECT_EQ(fired.order, std::vector<int>{2});
}

TEST(TimerWheelTest, LongGapFiresEverythingDue) {
  TimerWheel wheel(0);
  Fired fired;
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 100; ++i) {
    probes.push_back(std::make_unique<Probe>(&fired, i));
    wheel.Schedule(&probes.back()->node, (i * 997) * kMs);
  }
  wheel.Advance(1'000'000 * kMs);  // many laps later
  EXPECT_EQ(fired.order.size(), 100u);
}

TEST(TimerWheelTest, NextDeadlineIsNeverLate) {
  TimerWheel wheel(0);
  EXPECT_EQ(wheel.NextDeadlineNanos(), TimerWheel::kNever);
  Fired fired;
  Probe a{&fired, 1}, b{&fired, 2};
  wheel.Schedule(&a.node, 300 * kMs);
  wheel.Schedule(&b.node, 120 * kMs);
  EXPECT_LE(wheel.NextDeadlineNanos(), 120 * kMs);
  EXPECT_GT(wheel.NextDeadlineNanos(), 0);
  wheel.Advance(120 * kMs);
  EXPECT_EQ(fired.order, std::vector<int>{2});
  EXPECT_LE(wheel.NextDeadlineNanos(), 300 * kMs);
  wheel.Cancel(&a.node);
}

TEST(TimerWheelTest, CallbackMayRearmItself) {
  TimerWheel wheel(0);
  struct Context {
    TimerWheel* wheel;
    TimerNode self;
    int fired = 0;
  } ctx{&wheel, {}};
  ctx.self.Bind(
      [](void* p) {
        auto* c = static_cast<Context*>(p);
        if (++c->fired < 3) c->wheel->Schedule(&c->self, (c->fired + 1) * 10 * kMs);
      },
      &ctx);
  wheel.Schedule(&ctx.self, 10 * kMs);
  wheel.Advance(10 * kMs);
  wheel.Advance(20 * kMs);
  EXPECT_EQ(ctx.fired, 2);
  EXPECT_TRUE(ctx.self.armed());
  wheel.Advance(30 * kMs);
  EXPECT_EQ(ctx.fired, 3);
  EXPECT_FALSE(ctx.self.armed());
}

// Two timers due in one tick, each cancelling the other when it fires: both are on
// the firing list when the first runs, and the cancel takes the second off it, so
// exactly one fires (which one is not promised).
TEST(TimerWheelTest, ACallbackCancelsATimerAlreadyCollectedForTheSameTick) {
  TimerWheel wheel(0);
  struct Context {
    TimerNode a, b;
    TimerWheel* wheel;
    int a_fired = 0, b_fired = 0;
  } ctx{{}, {}, &wheel};
  ctx.a.Bind(
      [](void* p) {
        auto* c = static_cast<Context*>(p);
        ++c->a_fired;
        c->wheel->Cancel(&c->b);
      },
      &ctx);
  ctx.b.Bind(
      [](void* p) {
        auto* c = static_cast<Context*>(p);
        ++c->b_fired;
        c->wheel->Cancel(&c->a);
      },
      &ctx);
  wheel.Schedule(&ctx.a, 10 * kMs);
  wheel.Schedule(&ctx.b, 10 * kMs);
  wheel.Advance(10 * kMs);
  EXPECT_EQ(ctx.a_fired + ctx.b_fired, 1);
  EXPECT_FALSE(ctx.a.armed());
  EXPECT_FALSE(ctx.b.armed());
  EXPECT_EQ(wheel.armed_count(), 0u);
}

TEST(TimerWheelTest, ACallbackCancelsATimerDueLater) {
  TimerWheel wheel(0);
  struct Context {
    TimerNode first, later;
    TimerWheel* wheel;
    int later_fired = 0;
  } ctx{{}, {}, &wheel};
  ctx.first.Bind([](void* p) { static_cast<Context*>(p)->wheel->Cancel(&static_cast<Context*>(p)->later); }, &ctx);
  ctx.later.Bind([](void* p) { ++static_cast<Context*>(p)->later_fired; }, &ctx);
  wheel.Schedule(&ctx.first, 10 * kMs);
  wheel.Schedule(&ctx.later, 20 * kMs);
  wheel.Advance(10 * kMs);
  EXPECT_FALSE(ctx.later.armed());
  wheel.Advance(30 * kMs);
  EXPECT_EQ(ctx.later_fired, 0);
  EXPECT_EQ(wheel.armed_count(), 0u);
}

TEST(TimerWheelTest, AdvanceOverAWholeLapFiresWhatIsDueAndKeepsLaterLaps) {
  // Advance skips empty slots a bitmap word at a time; timers in every kind of slot
  // (word starts, word ends, neighbours) still fire exactly when due.
  TimerWheel wheel(0);
  constexpr int kTimers = 300;
  struct Counted {
    TimerNode node;
    int fired = 0;
  };
  std::vector<Counted> timers(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    timers[i].node.Bind([](void* p) { ++static_cast<Counted*>(p)->fired; }, &timers[i]);
    // Ticks 1..~3 laps, clustered at 64-slot word edges and spread in between.
    const int64_t tick = 1 + (i % 3 == 0 ? (i * 64) % 12000 : (i * 37) % 12000);
    wheel.Schedule(&timers[i].node, tick * kMs);
  }
  for (int64_t now = 500; now <= 13000; now += 500) {
    wheel.Advance(now * kMs);
    for (int i = 0; i < kTimers; ++i) {
      const int64_t tick = 1 + (i % 3 == 0 ? (i * 64) % 12000 : (i * 37) % 12000);
      ASSERT_EQ(timers[i].fired, tick <= now ? 1 : 0) << "timer " << i << " due at tick " << tick << " now " << now;
    }
  }
  EXPECT_EQ(wheel.armed_count(), 0u);
}

TEST(TimerWheelTest, TensOfThousandsOfSessionTimeouts) {
  TimerWheel wheel(0);
  int fired = 0;
  std::vector<std::unique_ptr<TimerNode>> nodes;
  for (int i = 0; i < 50'000; ++i) {
    nodes.push_back(std::make_unique<TimerNode>([](void* p) { ++*static_cast<int*>(p); }, &fired));
    wheel.Schedule(nodes.back().get(), (300'000 + i % 5000) * kMs);  // 5-minute idle timeouts
  }
  // Re-arming on activity is O(1): push every deadline forward once.
  for (int i = 0; i < 50'000; ++i) wheel.Schedule(nodes[i].get(), (600'000 + i % 5000) * kMs);
  wheel.Advance(599'999 * kMs);
  EXPECT_EQ(fired, 0);
  wheel.Advance(605'000 * kMs);
  EXPECT_EQ(fired, 50'000);
}

}  // namespace
}  // namespace ringpost::core
