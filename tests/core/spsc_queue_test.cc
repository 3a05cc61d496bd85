#include "core/spsc_queue.h"

#include <cstdint>
#include <thread>

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

TEST(SpscQueueTest, FifoAndBounded) {
  SpscQueue<int> queue(3);  // rounds up to 4
  EXPECT_EQ(queue.capacity(), 4u);
  for (int i = 0; i < 4; ++i) {
    int v = i;
    EXPECT_TRUE(queue.TryPush(v));
  }
  int extra = 99;
  EXPECT_FALSE(queue.TryPush(extra));
  EXPECT_EQ(extra, 99);  // untouched when full
  for (int i = 0; i < 4; ++i) EXPECT_EQ(queue.TryPop(), i);
  EXPECT_FALSE(queue.TryPop().has_value());
  EXPECT_TRUE(queue.EmptyApprox());
}

TEST(SpscQueueTest, MoveOnlyItems) {
  SpscQueue<std::unique_ptr<int>> queue(2);
  auto item = std::make_unique<int>(7);
  EXPECT_TRUE(queue.TryPush(item));
  EXPECT_EQ(item, nullptr);
  auto out = queue.TryPop();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(**out, 7);
}

// Two threads, millions of items: every item arrives once, in order (run under TSan
// in the tsan preset).
TEST(SpscQueueTest, TwoThreadsMillionsInOrder) {
  constexpr uint64_t kItems = 2'000'000;
  SpscQueue<uint64_t> queue(1024);
  std::thread producer([&] {
    for (uint64_t i = 1; i <= kItems;) {
      uint64_t v = i;
      if (queue.TryPush(v))
        ++i;
      else
        std::this_thread::yield();
    }
  });
  uint64_t expected = 1;
  uint64_t sum = 0;
  while (expected <= kItems) {
    auto v = queue.TryPop();
    if (!v) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ(*v, expected);
    sum += *v;
    ++expected;
  }
  producer.join();
  EXPECT_EQ(sum, kItems * (kItems + 1) / 2);
  EXPECT_FALSE(queue.TryPop().has_value());
}

}  // namespace
}  // namespace ringpost::core
