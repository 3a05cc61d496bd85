// RecentBodies: which kept bodies a delivery finds, and its bound.
#include "queue/recent_bodies.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

TEST(RecentBodiesTest, ABodyIsFoundOnlyByItsSegmentNumberAndLength) {
  RecentBodies recent;
  recent.Keep(7, 42, "Subject: a\r\n\r\nbody\r\n");
  const std::string* body = recent.Find(7, 42, 20);
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(*body, "Subject: a\r\n\r\nbody\r\n");
  // The same message number in another segment is another message (an earlier run's).
  EXPECT_EQ(recent.Find(3, 42, 20), nullptr);
  EXPECT_EQ(recent.Find(7, 42, 19), nullptr);
  EXPECT_EQ(recent.Find(7, 43, 20), nullptr);
}

TEST(RecentBodiesTest, BodiesOverTheLimitAreNotKept) {
  RecentBodies recent;
  recent.Keep(1, 1, std::string(RecentBodies::kBodyBytesMax + 1, 'x'));
  EXPECT_EQ(recent.bodies(), 0u);
  EXPECT_EQ(recent.bytes(), 0u);
  recent.Keep(1, 2, std::string(RecentBodies::kBodyBytesMax, 'x'));
  EXPECT_EQ(recent.bodies(), 1u);
  EXPECT_NE(recent.Find(1, 2, RecentBodies::kBodyBytesMax), nullptr);
}

TEST(RecentBodiesTest, TheOldestArePushedOutPastTheByteBoundAndTheirBuffersReused) {
  RecentBodies recent;
  const size_t body_bytes = 10000;
  const uint64_t fit = RecentBodies::kBytesMax / body_bytes;
  for (uint64_t ref = 1; ref <= fit + 5; ++ref) recent.Keep(2, ref, std::string(body_bytes, 'a'));
  EXPECT_EQ(recent.bodies(), fit);
  EXPECT_EQ(recent.bytes(), fit * body_bytes);
  EXPECT_LE(recent.bytes(), RecentBodies::kBytesMax);
  for (uint64_t ref = 1; ref <= 5; ++ref) EXPECT_EQ(recent.Find(2, ref, body_bytes), nullptr) << ref;
  for (uint64_t ref = 6; ref <= fit + 5; ++ref) ASSERT_NE(recent.Find(2, ref, body_bytes), nullptr) << ref;
  // A pushed-out body's buffer is the next one to gather in: empty, its memory kept.
  const std::string buffer = recent.TakeBuffer();
  EXPECT_TRUE(buffer.empty());
  EXPECT_GE(buffer.capacity(), body_bytes);
}

}  // namespace
}  // namespace ringpost::queue
