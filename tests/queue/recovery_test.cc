// Recovery's decisions (DESIGN.md, The log): corruption in a sealed segment is
// quarantined (never deleted, never a crash) with the messages before it kept; a newest
// segment that never got its header is set aside; delivery results decide which
// messages are still live; the reader API checks what it reads.
#include "queue/recovery.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "queue/log_reader.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/segment_builder.h"

namespace ringpost::queue {
namespace {

namespace fs = std::filesystem;

// The spool in `scratch`, with an empty shard-0 folder.
std::string SpoolIn(const testing::ScratchDir& scratch) {
  fs::create_directories(scratch / "shard-0");
  return scratch.path();
}

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Seal(testing::SegmentBuilder& builder, uint32_t generation, uint64_t sequence) {
  AppendRecord(RecordType::kSeal, generation, sequence, "", &builder.bytes());
  return builder.bytes();
}

TEST(RecoveryTest, CorruptSealedSegmentIsQuarantinedAndItsEarlierMessagesKept) {
  const testing::ScratchDir scratch("recovery-quarantine");
  const std::string spool = SpoolIn(scratch);
  testing::SegmentBuilder builder(1);
  builder.AddMessage("AAAAAAAAAAAA1", std::string(3000, 'a'));
  const size_t first_end = builder.bytes().size();
  builder.AddMessage("AAAAAAAAAAAA2", std::string(3000, 'b'));
  std::string bytes = Seal(builder, 1, 5);  // records 1-4 are the two messages
  bytes[first_end + 40] ^= 0x10;            // rot a byte inside the second message's body record
  Write(spool + "/shard-0/00000001.log", bytes);
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->report.quarantined, 1u);
  ASSERT_EQ(recovered->live.size(), 1u);
  EXPECT_EQ(recovered->live[0].queue_id, "AAAAAAAAAAAA1");
  EXPECT_FALSE(fs::exists(spool + "/shard-0/00000001.log"));
  EXPECT_TRUE(fs::exists(spool + "/quarantine/shard-0-00000001.log"));  // moved, never deleted
  // The message before the damage is still readable where the segment now lives.
  const std::string& path = recovered->segments[recovered->live[0].segment].path;
  auto envelope = ReadEnvelope(path, recovered->live[0].commit_offset);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  auto body = ReadBody(path, *envelope);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, std::string(3000, 'a'));
}

TEST(RecoveryTest, TornTailOfAnUnsealedSegmentIsCut) {
  const testing::ScratchDir scratch("recovery-torn");
  const std::string spool = SpoolIn(scratch);
  testing::SegmentBuilder builder(1);
  builder.AddMessage("AAAAAAAAAAAA1", "one");
  const size_t good = builder.bytes().size();
  builder.AddMessage("AAAAAAAAAAAA2", "two");
  const size_t torn = builder.bytes().size() - 5;  // inside the second commit record
  Write(spool + "/shard-0/00000001.log", builder.bytes().substr(0, torn));
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->report.torn_tails, 1u);
  EXPECT_EQ(recovered->report.quarantined, 0u);
  EXPECT_EQ(recovered->live.size(), 1u);
  // Cut at the last whole record (the second message's body chunk, harmless without
  // its commit).
  EXPECT_GT(fs::file_size(spool + "/shard-0/00000001.log"), good);
  EXPECT_LT(fs::file_size(spool + "/shard-0/00000001.log"), torn);
}

TEST(RecoveryTest, SegmentsWithoutAValidHeaderAreSetAsideUnread) {
  const testing::ScratchDir scratch("recovery-header");
  const std::string spool = SpoolIn(scratch);
  testing::SegmentBuilder one(1);
  one.AddMessage("AAAAAAAAAAAA1", "kept");
  Write(spool + "/shard-0/00000001.log", one.bytes());
  Write(spool + "/shard-0/00000002.log", std::string(10, '\0'));  // created, header never synced
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->report.unwritten_segments, 1u);
  EXPECT_EQ(recovered->report.quarantined, 0u);
  EXPECT_EQ(recovered->live.size(), 1u);
  // An empty newest file (created, never written) simply goes.
  Write(spool + "/shard-0/00000002.log", "");
  recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->report.unwritten_segments, 1u);
  EXPECT_FALSE(fs::exists(spool + "/shard-0/00000002.log"));
  // So does an empty one with a newer file after it (two heads were created together).
  Write(spool + "/shard-0/00000002.log", "");
  Write(spool + "/shard-0/00000004.log", "");
  recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->report.unwritten_segments, 2u);
  EXPECT_FALSE(fs::exists(spool + "/shard-0/00000002.log"));
  EXPECT_FALSE(fs::exists(spool + "/shard-0/00000004.log"));
  // A bad header anywhere is set aside too, and a second file set aside under the
  // same name does not replace the first.
  Write(spool + "/quarantine/shard-0-00000001.log", "earlier");
  Write(spool + "/shard-0/00000003.log", one.bytes());
  std::string rotten = one.bytes();
  rotten[0] = 'X';
  Write(spool + "/shard-0/00000001.log", rotten);
  recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->report.unwritten_segments, 1u);  // the rotten one
  EXPECT_TRUE(fs::exists(spool + "/quarantine/shard-0-00000001.log.1"));
  // 3's header names segment 1: a reused file whose new header never landed. Nothing of
  // segment 3 was ever acknowledged, and it is no damage: it goes back to the pool.
  EXPECT_EQ(recovered->report.recycled_unused, 1u);
  EXPECT_FALSE(fs::exists(spool + "/shard-0/00000003.log"));
  EXPECT_TRUE(fs::exists(spool + "/shard-0/00000003.free"));
  EXPECT_FALSE(fs::exists(spool + "/quarantine/shard-0-00000003.log"));
  std::ifstream earlier(spool + "/quarantine/shard-0-00000001.log");
  std::string text;
  earlier >> text;
  EXPECT_EQ(text, "earlier");
}

TEST(RecoveryTest, DeliveryResultsDecideWhatIsStillLive) {
  const testing::ScratchDir scratch("recovery-results");
  const std::string spool = SpoolIn(scratch);
  testing::SegmentBuilder builder(1);
  builder.AddMessage("AAAAAAAAAAAA1", "delivered");
  builder.AddMessage("AAAAAAAAAAAA2", "deferred");
  builder.AddMessage("AAAAAAAAAAAA3", "bounced after a deferral");
  builder.AddResult({"AAAAAAAAAAAA1", 0, Outcome::kDelivered, 1, 0, 250, "ok"});
  builder.AddResult({"AAAAAAAAAAAA2", 0, Outcome::kDeferred, 2, 1'900'000'000'000'000, 451, "later"});
  builder.AddResult({"AAAAAAAAAAAA3", 0, Outcome::kDeferred, 1, 5, 451, "later"});
  builder.AddResult({"AAAAAAAAAAAA3", 0, Outcome::kBounced, 2, 0, 550, "no such user"});
  builder.AddResult({"AAAAAAAAAAAA3", 0, Outcome::kDeferred, 1, 7, 451, "a late, older attempt"});
  Write(spool + "/shard-0/00000001.log", builder.bytes());
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->report.messages_committed, 3u);
  EXPECT_EQ(recovered->report.messages_finished, 2u);
  ASSERT_EQ(recovered->live.size(), 1u);
  EXPECT_EQ(recovered->live[0].queue_id, "AAAAAAAAAAAA2");
  EXPECT_EQ(recovered->live[0].recipients[0].attempts, 2u);
  EXPECT_EQ(recovered->live[0].recipients[0].next_attempt_unix_micros, 1'900'000'000'000'000u);
  EXPECT_EQ(recovered->queue_ids.size(), 3u);  // every id, for the id generator
}

TEST(RecoveryTest, OperatorsHoldsDeletesAndTheNewestOrderPerDomainSurvive) {
  const testing::ScratchDir scratch("recovery-operators");
  const std::string spool = SpoolIn(scratch);
  testing::SegmentBuilder builder(1);
  builder.AddMessage("AAAAAAAAAAAA1", "held");
  builder.AddMessage("AAAAAAAAAAAA2", "held, then released");
  builder.AddMessage("AAAAAAAAAAAA3", "deleted");
  builder.AddResult({"AAAAAAAAAAAA1", 0, Outcome::kHeld, 0, 0, 0, "held by the operator"});
  builder.AddResult({"AAAAAAAAAAAA2", 0, Outcome::kHeld, 0, 0, 0, "held by the operator"});
  builder.AddResult({"AAAAAAAAAAAA2", 0, Outcome::kReleased, 0, 0, 0, "released by the operator"});
  builder.AddResult({"AAAAAAAAAAAA3", 0, Outcome::kDeleted, 0, 0, 0, "deleted by the operator"});
  builder.AddControl({ControlRecord::Kind::kSuspend, "a.example", 10, 1'900'000'000'000'000, "old"});
  builder.AddControl({ControlRecord::Kind::kSuspend, "b.example", 11, 1'900'000'000'000'000, "kept"});
  builder.AddControl({ControlRecord::Kind::kResume, "a.example", 12, 0, ""});
  builder.AddControl({ControlRecord::Kind::kSuspend, "b.example", 9, 1'900'000'000'000'001, "an older copy"});
  Write(spool + "/shard-0/00000001.log", builder.bytes());
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  ASSERT_EQ(recovered->live.size(), 2u);  // a deleted message never comes back
  EXPECT_EQ(recovered->live[0].queue_id, "AAAAAAAAAAAA1");
  EXPECT_TRUE(recovered->live[0].recipients[0].held);
  EXPECT_EQ(recovered->live[1].queue_id, "AAAAAAAAAAAA2");
  EXPECT_FALSE(recovered->live[1].recipients[0].held);
  ASSERT_EQ(recovered->controls.size(), 2u);
  for (const ControlRecord& c : recovered->controls) {
    if (c.domain == "a.example") {
      EXPECT_EQ(c.kind, ControlRecord::Kind::kResume);
    } else {
      EXPECT_EQ(c.domain, "b.example");
      EXPECT_EQ(c.reason, "kept");
    }
  }
}

TEST(RecoveryTest, EveryShardFolderIsScannedWhateverShardsIsNow) {
  const testing::ScratchDir scratch("recovery-shards");
  const std::string spool = SpoolIn(scratch);
  for (int shard : {0, 3, 7}) {
    fs::create_directories(spool + "/shard-" + std::to_string(shard));
    testing::SegmentBuilder builder(1);
    builder.AddMessage("SHARD" + std::to_string(shard) + "0000000", "x");
    Write(spool + "/shard-" + std::to_string(shard) + "/00000001.log", builder.bytes());
  }
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->live.size(), 3u);
}

TEST(RecoveryTest, ReaderRejectsDamagedRecords) {
  const testing::ScratchDir scratch("recovery-reader");
  const std::string spool = SpoolIn(scratch);
  testing::SegmentBuilder builder(1);
  Envelope e = builder.AddMessage("AAAAAAAAAAAA1", std::string(100, 'z'));
  const std::string path = spool + "/shard-0/00000001.log";
  std::string bytes = builder.bytes();
  bytes[e.body[0].offset + 3] ^= 1;
  Write(path, bytes);
  EXPECT_EQ(ReadBody(path, e).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadEnvelope(path, 0).status().code(), absl::StatusCode::kDataLoss);
}

// The reader puts each body record's bytes straight into the body and reads records
// that follow each other in one preadv: bodies of many records, adjacent or interleaved
// with another message's, come back byte for byte, and a flipped byte anywhere in any
// record (header, prefix or bytes) is DataLoss.
TEST(RecoveryTest, ReaderReadsManyRecordBodiesAndChecksEachOne) {
  const testing::ScratchDir scratch("recovery-reader_records");
  const std::string spool = SpoolIn(scratch);
  const std::string path = spool + "/shard-0/00000001.log";
  std::string body;
  for (int i = 0; i < 100 * 1024; ++i) body.push_back(static_cast<char>('a' + (i * 7) % 26));
  testing::SegmentBuilder builder(1);
  const Envelope adjacent = builder.AddMessage("AAAAAAAAAAAA1", body, 1000);  // 103 records
  ASSERT_GT(adjacent.body.size(), 64u);                                       // more than one preadv's worth
  Write(path, builder.bytes());
  auto read = ReadBody(path, adjacent);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, body);
  std::string reused(5, 'x');  // a reused buffer longer or shorter than the body
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_TRUE(ReadBodyInto(fd, path, BodyOf(adjacent), &reused).ok());
  close(fd);
  EXPECT_EQ(reused, body);

  const size_t first_record = adjacent.body[0].offset - kBodyChunkPrefixBytes - kRecordHeaderBytes;
  const size_t last = adjacent.body.back().offset + adjacent.body.back().bytes;
  for (size_t at = first_record; at < last; at += 97) {
    std::string bytes = builder.bytes();
    bytes[at] ^= 0x20;
    Write(path, bytes);
    EXPECT_EQ(ReadBody(path, adjacent).status().code(), absl::StatusCode::kDataLoss) << "byte " << at;
  }

  // A record of another message where this one's is expected: refused, though its CRC holds.
  testing::SegmentBuilder two(1);
  const Envelope first = two.AddMessage("AAAAAAAAAAAA2", "first body", 4);
  const Envelope second = two.AddMessage("AAAAAAAAAAAA3", "other body", 4);
  Write(path, two.bytes());
  Envelope mixed = first;
  mixed.body[1] = second.body[1];
  EXPECT_EQ(ReadBody(path, mixed).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(*ReadBody(path, second), "other body");
  // Extents past the end of the file, or more bytes than the body has: DataLoss.
  Envelope beyond = first;
  beyond.body.back().offset += 1 << 20;
  EXPECT_EQ(ReadBody(path, beyond).status().code(), absl::StatusCode::kDataLoss);
  Envelope overfull = first;
  overfull.body_bytes -= 1;
  EXPECT_EQ(ReadBody(path, overfull).status().code(), absl::StatusCode::kDataLoss);
  Envelope huge = first;  // refused before a terabyte is allocated for it
  huge.body_bytes = uint64_t{1} << 40;
  EXPECT_EQ(ReadBody(path, huge).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ringpost::queue
