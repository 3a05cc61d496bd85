// Cross-shard handoff on the real runtime: two shards, two threads, two rings.
// Millions of envelopes each way arrive once and in order; a ping-pong where each
// side sleeps between messages proves the IORING_OP_MSG_RING wake-up is never lost
// (a lost wake hangs the test until its timeout). Runs under TSan (tsan preset).
#include <atomic>
#include <cstdint>

#include "core/runtime.h"
#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

struct ShardState {
  uint64_t to_send = 0;
  uint64_t sent = 0;
  uint64_t next_expected = 1;
  uint64_t received = 0;
  uint64_t out_of_order = 0;
  uint64_t full_retries = 0;
};

struct StreamTest {
  ShardState state[2];
  uint64_t per_direction = 0;
  std::atomic<int> finished{0};
};

void OnItem(Shard& shard, const Envelope& envelope) {
  auto* test = static_cast<StreamTest*>(envelope.pointer);
  const uint64_t argument = envelope.argument;
  ShardState& me = test->state[shard.id()];
  if (argument != me.next_expected) ++me.out_of_order;
  me.next_expected = argument + 1;
  if (++me.received == test->per_direction) {
    if (test->finished.fetch_add(1) + 1 == 2) shard.runtime().RequestStop();
  }
}

RuntimeOptions TwoShards() {
  RuntimeOptions options;
  options.shards = 2;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  options.shard.recv_buffer_bytes = 4096;
  options.shard.inbox_capacity = 1024;
  options.shard.ring.cq_entries = 1024;
  return options;
}

TEST(HandoffTest, MillionsOfItemsEachWayArriveOnceInOrder) {
  StreamTest test;
  test.per_direction = 2'000'000;
  Runtime runtime(TwoShards());
  absl::Status status = runtime.Run([&](Shard& shard) {
    ShardState& me = test.state[shard.id()];
    me.to_send = test.per_direction;
    const int peer = 1 - shard.id();
    shard.AddTurnHook([&shard, &me, &test, peer] {
      while (me.sent < me.to_send) {
        if (!shard.Post(peer, Envelope{&OnItem, nullptr, &test, me.sent + 1})) {
          ++me.full_retries;
          break;  // queue full: try again next turn
        }
        ++me.sent;
      }
      if (me.sent < me.to_send) shard.RequestTurn();
    });
    shard.RequestTurn();
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(test.state[i].received, test.per_direction) << "shard " << i;
    EXPECT_EQ(test.state[i].out_of_order, 0u) << "shard " << i;
    EXPECT_EQ(test.state[i].sent, test.per_direction) << "shard " << i;
  }
  std::printf("handoff: %llu items each way, queue-full retries %llu/%llu, wakes %llu/%llu\n",
              (unsigned long long)test.per_direction, (unsigned long long)test.state[0].full_retries,
              (unsigned long long)test.state[1].full_retries,
              (unsigned long long)runtime.shard(0).wakes_sent(),
              (unsigned long long)runtime.shard(1).wakes_sent());
}

struct PingPong {
  uint64_t rounds = 0;
  uint64_t done = 0;
};

void OnPing(Shard& shard, const Envelope& envelope) {
  auto* test = static_cast<PingPong*>(envelope.pointer);
  const uint64_t argument = envelope.argument;
  if (shard.id() == 0) {
    test->done = argument;
    if (argument == test->rounds) {
      shard.runtime().RequestStop();
      return;
    }
  }
  // Each side idles (and so sleeps in io_uring_enter) until the other's message
  // arrives: every round needs a wake-up that works.
  EXPECT_TRUE(shard.Post(1 - shard.id(), Envelope{&OnPing, nullptr, envelope.pointer, envelope.argument + (shard.id() == 1)}));
}

TEST(HandoffTest, SleepingShardIsWokenEveryTime) {
  PingPong test;
  test.rounds = 20'000;
  Runtime runtime(TwoShards());
  absl::Status status = runtime.Run([&](Shard& shard) {
    if (shard.id() == 0) {
      EXPECT_TRUE(shard.Post(1, Envelope{&OnPing, nullptr, &test, 0}));
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(test.done, test.rounds);
  const uint64_t wakes = runtime.shard(0).wakes_sent() + runtime.shard(1).wakes_sent();
  EXPECT_GT(wakes, 0u);
  std::printf("ping-pong: %llu rounds, %llu MSG_RING wake-ups\n", (unsigned long long)test.rounds,
              (unsigned long long)wakes);
}

TEST(HandoffTest, StopFromAnotherThreadWakesSleepingShards) {
  Runtime runtime(TwoShards());
  std::atomic<int> ready{0};
  std::thread stopper;
  absl::Status status = runtime.Run([&](Shard& shard) {
    if (ready.fetch_add(1) + 1 == 2) {
      // Both shards are about to idle with nothing to do: only the control ring's
      // MSG_RING can wake them.
      stopper = std::thread([&runtime] { runtime.RequestStop(); });
    }
    (void)shard;
    return absl::OkStatus();
  });
  stopper.join();
  EXPECT_TRUE(status.ok());
}

}  // namespace
// Shutdown ends every loop together. Shard 1 holds itself after the stop and only then
// asks shard 0 for something (as a delivering shard sends results to the message's
// home log); shard 0 holds nothing, yet keeps its loop until shard 1 is done, so the
// answer comes. Shard 1 gives up after five seconds, so a shard 0 that left early fails
// the test instead of hanging it.
namespace {

struct LateQuestion {
  std::atomic<bool> answered{false};
  int turns_since_stop = 0;
  bool stopping = false, asked = false, released = false;
  MonoNanos give_up_at = 0;
};

void OnAnswer(Shard&, const Envelope& envelope) {
  static_cast<LateQuestion*>(envelope.pointer)->answered = true;
}

void OnQuestion(Shard& shard, const Envelope& envelope) {
  EXPECT_TRUE(shard.Post(1, Envelope{&OnAnswer, nullptr, envelope.pointer, 0}));
}

}  // namespace

TEST(RuntimeTest, AShardWithNothingHeldRunsWhatAnotherStillSendsItUntilEveryShardIsDone) {
  Runtime runtime(TwoShards());
  LateQuestion q;
  absl::Status status = runtime.Run([&](Shard& shard) {
    if (shard.id() == 0) {
      shard.runtime().RequestStop();
      return absl::OkStatus();
    }
    shard.Hold();
    shard.AddStopHandler([&q, &shard](MonoNanos) {
      q.stopping = true;
      shard.RequestTurn();  // the hook below keeps turning until it lets go
    });
    shard.AddTurnHook([&q, &shard] {
      if (!q.stopping || q.released) return;
      shard.RequestTurn();
      if (++q.turns_since_stop < 200) return;  // shard 0 has long settled by now
      if (!q.asked) {
        q.asked = true;
        q.give_up_at = shard.now() + 5 * kNanosPerSecond;
        EXPECT_TRUE(shard.Post(0, Envelope{&OnQuestion, nullptr, &q, 0}));
      }
      if (q.answered || shard.now() > q.give_up_at) {
        q.released = true;
        shard.Release();
      }
    });
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(q.asked);
  EXPECT_TRUE(q.answered);
}

// Once every shard has settled the end is final: a shard still finishing its own I/O
// (shard 0 here, holding itself after it had settled) may not start waiting for another
// shard, which may have left its loop already.
namespace {

struct LateHold {
  std::atomic<bool> zero_holds{false};
  bool zero_counted = false, zero_done = false, one_released = false;
  int zero_turns = 0;
  bool peer_hold_granted = true;
};

}  // namespace

TEST(RuntimeTest, OnceEveryShardSettledNoShardMayWaitForAnotherAgain) {
  Runtime runtime(TwoShards());
  LateHold h;
  absl::Status status = runtime.Run([&](Shard& shard) {
    if (shard.id() == 1) {
      shard.Hold();  // settles only once shard 0 holds itself again
      shard.AddStopHandler([&shard](MonoNanos) { shard.RequestTurn(); });
      shard.AddTurnHook([&h, &shard] {
        if (!shard.stopping() || h.one_released) return;
        shard.RequestTurn();
        if (!h.zero_holds.load()) return;
        h.one_released = true;
        shard.Release();
      });
      return absl::OkStatus();
    }
    shard.runtime().RequestStop();
    shard.AddStopHandler([&shard](MonoNanos) { shard.RequestTurn(); });
    shard.AddTurnHook([&h, &shard] {
      if (!shard.stopping() || h.zero_done) return;
      shard.RequestTurn();
      if (!h.zero_counted) {
        if (++h.zero_turns < 3) return;  // a turn's start has counted it settled
        h.zero_counted = true;
        shard.Hold();  // its own I/O, say
        h.zero_holds = true;
        return;
      }
      if (!shard.runtime().AllShardsSettled()) return;
      h.peer_hold_granted = shard.HoldForPeer();
      if (h.peer_hold_granted) shard.Release();
      h.zero_done = true;
      shard.Release();
    });
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(h.zero_done);
  EXPECT_FALSE(h.peer_hold_granted);
}

TEST(RuntimeTest, AShardThatCannotStartStopsTheRuntimeWithItsErrorAndRunsNoLoop) {
  RuntimeOptions options = TwoShards();
  options.shard.recv_buffer_count = 1000;  // the buffer ring needs a power of two
  Runtime runtime(options);
  bool set_up = false, started = false;
  const absl::Status status = runtime.Run(
      [&](Shard&) {
        set_up = true;
        return absl::OkStatus();
      },
      [&] { started = true; });
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("shard "), std::string::npos) << status;
  EXPECT_FALSE(set_up);   // no setup runs on a runtime whose shards are not all up
  EXPECT_FALSE(started);  // and it never says it started
}

}  // namespace ringpost::core
