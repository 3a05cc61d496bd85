// RecentWrites: which bodies the kept writes give back, checked as a file read checks
// them, and the bound on what is kept.
#include "queue/recent_writes.h"

#include <string>

#include "gtest/gtest.h"
#include "queue/wire.h"

namespace ringpost::queue {
namespace {

constexpr uint64_t kMessageRef = 9;

// Body records of `message_ref` as the log writer stages them, from file offset
// `start`; `extents` gets where each record's body bytes are.
std::string BodyRecords(uint64_t start, uint64_t message_ref, const std::vector<std::string>& chunks,
                        std::vector<BodyExtent>* extents) {
  std::string out;
  std::string prefix;
  ByteWriter(&prefix).U64(message_ref);
  uint64_t sequence = 1;
  for (const std::string& chunk : chunks) {
    extents->push_back({start + out.size() + kRecordHeaderBytes + kBodyChunkPrefixBytes,
                        static_cast<uint32_t>(chunk.size())});
    const absl::string_view parts[] = {prefix, chunk};
    AppendRecordGather(RecordType::kBody, /*generation=*/3, sequence++, parts, &out);
  }
  return out;
}

BodyLocation LocationOf(const std::vector<BodyExtent>& extents, uint64_t message_ref = kMessageRef) {
  BodyLocation location;
  location.message_ref = message_ref;
  location.extents = extents;
  for (const BodyExtent& extent : extents) location.bytes += extent.bytes;
  return location;
}

TEST(RecentWritesTest, ABodyInAKeptWriteIsCopiedWholeInRecordOrder) {
  RecentWrites writes;
  std::vector<BodyExtent> extents;
  std::string written = BodyRecords(4096, kMessageRef, {"Subject: a\r\n", "\r\nbody\r\n"}, &extents);
  writes.Keep(/*segment=*/5, /*offset=*/4096, std::move(written));
  std::string body = "stale";
  ASSERT_TRUE(writes.CopyBody(5, LocationOf(extents), &body));
  EXPECT_EQ(body, "Subject: a\r\n\r\nbody\r\n");
  // Prepended fields are written last and listed first: the extents' order decides.
  ASSERT_TRUE(writes.CopyBody(5, LocationOf({extents[1], extents[0]}), &body));
  EXPECT_EQ(body, "\r\nbody\r\nSubject: a\r\n");
}

TEST(RecentWritesTest, FindGivesOnlyBytesOneKeptWriteHoldsWhole) {
  RecentWrites writes;
  writes.Keep(1, 100, "abcdef");
  writes.Keep(1, 106, "ghij");
  writes.Keep(2, 100, "zzzzzz");
  EXPECT_EQ(writes.Find(1, 100, 6), "abcdef");
  EXPECT_EQ(writes.Find(1, 102, 3), "cde");
  EXPECT_EQ(writes.Find(1, 108, 2), "ij");
  EXPECT_EQ(writes.Find(2, 101, 2), "zz");
  EXPECT_EQ(writes.Find(1, 99, 2).data(), nullptr) << "starts before the write";
  EXPECT_EQ(writes.Find(1, 104, 4).data(), nullptr) << "spans two writes";
  EXPECT_EQ(writes.Find(1, 108, 3).data(), nullptr) << "runs past the newest write";
  EXPECT_EQ(writes.Find(3, 100, 1).data(), nullptr) << "another segment";
}

TEST(RecentWritesTest, WhatIsNotHereWholeAndIntactIsLeftToTheFile) {
  RecentWrites writes;
  std::vector<BodyExtent> extents;
  std::string written = BodyRecords(0, kMessageRef, {"one\r\n", "two\r\n"}, &extents);
  std::string damaged = written;
  damaged[kRecordHeaderBytes + kBodyChunkPrefixBytes] ^= 1;  // a body byte of the first record
  writes.Keep(1, 0, std::move(written));
  writes.Keep(2, 0, std::move(damaged));
  std::string body = "stale";
  EXPECT_FALSE(writes.CopyBody(2, LocationOf(extents), &body)) << "a record that fails its CRC";
  EXPECT_EQ(body, "");
  EXPECT_FALSE(writes.CopyBody(3, LocationOf(extents), &body)) << "another segment";
  EXPECT_FALSE(writes.CopyBody(1, LocationOf(extents, kMessageRef + 1), &body))
      << "another message's records";
  BodyExtent past_the_end = extents[1];
  past_the_end.bytes += 1;
  EXPECT_FALSE(writes.CopyBody(1, LocationOf({extents[0], past_the_end}), &body)) << "bytes not kept";
  BodyLocation short_count = LocationOf(extents);
  short_count.bytes -= 1;
  EXPECT_FALSE(writes.CopyBody(1, short_count, &body)) << "extents that do not make up the body";
  EXPECT_TRUE(writes.CopyBody(1, LocationOf(extents), &body));
  EXPECT_EQ(body, "one\r\ntwo\r\n");
}

TEST(RecentWritesTest, TheOldestWritesGoPastTheBoundAndTheirBuffersAreReused) {
  RecentWrites writes;
  std::vector<std::vector<BodyExtent>> extents(RecentWrites::kWritesMax + 3);
  std::string reused;
  for (size_t i = 0; i < extents.size(); ++i) {
    std::string written = BodyRecords(1000 * i, kMessageRef, {"m\r\n"}, &extents[i]);
    const size_t written_bytes = written.size();
    std::string next = writes.Keep(1, 1000 * i, std::move(written));
    // Always an empty buffer at least as large as the one kept, so writes do not grow
    // their buffers from nothing.
    EXPECT_TRUE(next.empty()) << i;
    EXPECT_GE(next.capacity(), written_bytes) << i;
    if (i == RecentWrites::kWritesMax) reused = std::move(next);
  }
  EXPECT_EQ(writes.writes(), RecentWrites::kWritesMax);
  EXPECT_TRUE(reused.empty());
  EXPECT_GT(reused.capacity(), std::string().capacity()) << "the pushed-out write's buffer comes back";
  std::string body;
  for (size_t i = 0; i < 3; ++i) EXPECT_FALSE(writes.CopyBody(1, LocationOf(extents[i]), &body)) << i;
  for (size_t i = 3; i < extents.size(); ++i)
    EXPECT_TRUE(writes.CopyBody(1, LocationOf(extents[i]), &body)) << i;
  // A write in a buffer over kWriteBytesMax is not kept: its buffer comes straight back.
  std::string huge(RecentWrites::kWriteBytesMax + 1, 'x');
  const char* huge_buffer = huge.data();
  const std::string back = writes.Keep(2, 0, std::move(huge));
  EXPECT_EQ(back.data(), huge_buffer);
  EXPECT_TRUE(back.empty());
  EXPECT_EQ(writes.writes(), RecentWrites::kWritesMax);
  // A small write in a buffer that grew large once: the buffer comes straight back and
  // a copy is kept.
  std::vector<BodyExtent> small_extents;
  std::string roomy = BodyRecords(0, kMessageRef, {"small\r\n"}, &small_extents);
  roomy.reserve(RecentWrites::kWriteBytesMax + 1);
  const char* roomy_buffer = roomy.data();
  const std::string roomy_back = writes.Keep(4, 0, std::move(roomy));
  EXPECT_EQ(roomy_back.data(), roomy_buffer);
  EXPECT_TRUE(roomy_back.empty());
  ASSERT_TRUE(writes.CopyBody(4, LocationOf(small_extents), &body));
  EXPECT_EQ(body, "small\r\n");
  // Writes up to the byte bound push out the oldest until they fit.
  const size_t large = RecentWrites::kWriteBytesMax;
  for (int i = 0; i < 40; ++i) writes.Keep(3, large * i, std::string(large, 'y'));
  EXPECT_LE(writes.bytes(), RecentWrites::kBytesMax);
  EXPECT_GE(writes.bytes(), RecentWrites::kBytesMax - 2 * large);
}

}  // namespace
}  // namespace ringpost::queue
