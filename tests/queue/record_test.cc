// The queue log's record format (DESIGN.md, The log): CRC32C, codec round trips, and
// the scanner's rules for torn tails, stale generations and corruption.
#include <random>

#include "gtest/gtest.h"
#include "queue/crc32c.h"
#include "queue/queue_id.h"
#include "queue/record.h"
#include "queue/segment_scan.h"
#include "tests/support/segment_builder.h"

namespace ringpost::queue {
namespace {

TEST(Crc32cTest, KnownVectorsAndExtension) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4
  const std::string text = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    EXPECT_EQ(Crc32cExtend(Crc32c(text.substr(0, cut)), text.data() + cut, text.size() - cut), Crc32c(text));
  }
}

// The hardware path runs three streams over 4096- and 256-byte blocks and joins them:
// every length around those block boundaries, at every alignment, from a running CRC,
// must give what the bit-at-a-time definition gives.
uint32_t BitwiseCrc32c(uint32_t crc, const std::string& data) {
  uint32_t state = ~crc;
  for (unsigned char byte : data) {
    state ^= byte;
    for (int bit = 0; bit < 8; ++bit) state = (state & 1) ? (state >> 1) ^ 0x82F63B78u : state >> 1;
  }
  return ~state;
}

TEST(Crc32cTest, EveryLengthAndAlignmentMatchesTheDefinition) {
  std::mt19937 random(7);
  std::string buffer(3 * 4096 * 3 + 64, '\0');
  for (char& c : buffer) c = static_cast<char>(random());
  std::vector<size_t> lengths;
  for (size_t n = 0; n < 800; ++n) lengths.push_back(n);
  for (size_t block : {256u, 4096u}) {
    for (size_t rounds = 1; rounds <= 3; ++rounds) {
      for (size_t delta = 0; delta < 20; ++delta) {
        lengths.push_back(3 * block * rounds + delta);
        lengths.push_back(3 * block * rounds - 1 - delta);
      }
    }
  }
  for (size_t length : lengths) {
    for (size_t align : {0u, 1u, 3u, 7u}) {
      const std::string data = buffer.substr(align, length);
      const uint32_t start = static_cast<uint32_t>(random());
      ASSERT_EQ(Crc32cExtend(start, buffer.data() + align, length), BitwiseCrc32c(start, data))
          << "length " << length << " align " << align;
    }
  }
}

TEST(RecordTest, RoundTripsAndRejectsAnyFlippedBit) {
  std::string bytes;
  AppendRecord(RecordType::kBody, 7, 42, "payload bytes", &bytes);
  DecodedRecord record;
  ASSERT_EQ(DecodeRecord(bytes, &record), DecodeStatus::kOk);
  EXPECT_EQ(record.header.type, RecordType::kBody);
  EXPECT_EQ(record.header.generation, 7u);
  EXPECT_EQ(record.header.sequence, 42u);
  EXPECT_EQ(record.payload, "payload bytes");
  EXPECT_EQ(record.total_bytes, bytes.size());
  for (size_t i = 0; i < bytes.size() * 8; ++i) {
    std::string flipped = bytes;
    flipped[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_NE(DecodeRecord(flipped, &record), DecodeStatus::kOk) << "bit " << i;
  }
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_EQ(DecodeRecord(bytes.substr(0, cut), &record), DecodeStatus::kIncomplete);
  }
}

TEST(RecordTest, EnvelopeAndResultRoundTrip) {
  Envelope e;
  e.queue_id = "0ABCDEFGHJKMN";
  e.message_ref = 9;
  e.arrival_unix_micros = 123;
  e.client_address = "[::1]:4000";
  e.helo = "h";
  e.protocol = "ESMTPS";
  e.tls = "TLSv1.3";
  e.mail_from = "";
  e.mail_params = "SIZE=10 BODY=8BITMIME";
  e.recipients = {{"a@b.c", "NOTIFY=NEVER"}, {"d@e.f", ""}};
  e.body = {{100, 5}, {200, 7}};
  e.body_bytes = 12;
  auto back = DecodeEnvelope(EncodeEnvelope(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->queue_id, e.queue_id);
  EXPECT_EQ(back->recipients.size(), 2u);
  EXPECT_EQ(back->recipients[0].params, "NOTIFY=NEVER");
  EXPECT_EQ(back->body, e.body);
  e.body_bytes = 13;  // extents that do not add up are corruption
  EXPECT_FALSE(DecodeEnvelope(EncodeEnvelope(e)).ok());

  DeliveryResult d{"0ABCDEFGHJKMN", 1, Outcome::kDeferred, 3, 999, 451, "4.3.0 try later"};
  auto result = DecodeDeliveryResult(EncodeDeliveryResult(d));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, Outcome::kDeferred);
  EXPECT_EQ(result->attempt, 3u);
  EXPECT_EQ(result->text, "4.3.0 try later");
}

TEST(RecordTest, EnvelopeCarriesItsEgressPoolOnlyWhenItHasOne) {
  Envelope e;
  e.queue_id = "0ABCDEFGHJKMN";
  e.recipients = {{"a@b.c", ""}};
  const std::string without = EncodeEnvelope(e);
  auto back = DecodeEnvelope(without);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pool, "");
  e.pool = "bulk";
  const std::string with = EncodeEnvelope(e);
  EXPECT_EQ(with.substr(0, without.size()), without);  // older envelopes read as before
  back = DecodeEnvelope(with);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pool, "bulk");
  EXPECT_FALSE(DecodeEnvelope(with + "x").ok());
  EXPECT_FALSE(DecodeEnvelope(with.substr(0, with.size() - 1)).ok());
  std::string empty_pool = without;
  empty_pool.append(4, '\0');  // a length of 0: an empty pool is never written
  EXPECT_FALSE(DecodeEnvelope(empty_pool).ok());
}

TEST(RecordTest, ControlRecordRoundTripsAndRejectsWhatIsNotOne) {
  const ControlRecord order{ControlRecord::Kind::kSuspend, "slow.example", 5, 1'900'000'000'000'000, "blocklisted"};
  const std::string encoded = EncodeControlRecord(order);
  auto decoded = DecodeControlRecord(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->kind, ControlRecord::Kind::kSuspend);
  EXPECT_EQ(decoded->domain, "slow.example");
  EXPECT_EQ(decoded->at_unix_micros, 5u);
  EXPECT_EQ(decoded->until_unix_micros, 1'900'000'000'000'000u);
  EXPECT_EQ(decoded->reason, "blocklisted");
  EXPECT_FALSE(DecodeControlRecord(encoded.substr(0, encoded.size() - 1)).ok());
  EXPECT_FALSE(DecodeControlRecord(encoded + "x").ok());
  std::string bad_kind = encoded;
  bad_kind[0] = 3;
  EXPECT_FALSE(DecodeControlRecord(bad_kind).ok());
  EXPECT_FALSE(DecodeControlRecord(EncodeControlRecord({ControlRecord::Kind::kResume, "", 1, 0, ""})).ok());
}

TEST(SegmentScanTest, FindsEveryCommittedMessage) {
  testing::SegmentBuilder builder(5);
  builder.AddMessage("0000000000001", std::string(10000, 'x'));
  builder.AddMessage("0000000000002", "");
  builder.AddResult({"0000000000001", 0, Outcome::kDelivered, 1, 0, 250, "ok"});
  auto scan = ScanSegment(builder.bytes());
  ASSERT_TRUE(scan.ok()) << scan.status();
  EXPECT_TRUE(scan->clean_end);
  ASSERT_EQ(scan->messages.size(), 2u);
  EXPECT_EQ(scan->messages[0].envelope.body.size(), 3u);  // 4096 + 4096 + 1808
  EXPECT_EQ(scan->messages[0].envelope.body_bytes, 10000u);
  EXPECT_EQ(scan->results.size(), 1u);
  EXPECT_EQ(scan->valid_bytes, builder.bytes().size());
  // The extents point at the body bytes themselves.
  const BodyExtent& first = scan->messages[0].envelope.body[0];
  EXPECT_EQ(builder.bytes().substr(first.offset, first.bytes), std::string(4096, 'x'));
}

TEST(SegmentScanTest, TornTailKeepsOnlyWholeCommittedMessages) {
  testing::SegmentBuilder builder(5);
  builder.AddMessage("0000000000001", std::string(5000, 'a'));
  const size_t after_first = builder.bytes().size();
  builder.AddMessage("0000000000002", std::string(5000, 'b'));
  for (size_t cut = kSegmentHeaderBytes; cut < builder.bytes().size(); cut += 97) {
    auto scan = ScanSegment(absl::string_view(builder.bytes()).substr(0, cut));
    ASSERT_TRUE(scan.ok());
    EXPECT_EQ(scan->messages.size(), cut >= after_first ? 1u : 0u) << cut;
    EXPECT_LE(scan->valid_bytes, cut);
  }
}

TEST(SegmentScanTest, StaleRecordsOfAnOlderGenerationAreNotOurs) {
  // A recycled file: after a power loss the unsynced tail may still hold the previous
  // generation's records, whole and with good CRCs. They must not be read as ours.
  testing::SegmentBuilder old_generation(4, 1);
  old_generation.AddMessage("OLD0000000001", "old body");
  old_generation.AddMessage("OLD0000000002", "old body 2");
  testing::SegmentBuilder current(5, 1);
  current.AddMessage("NEW0000000001", "new body");
  std::string bytes = current.bytes();
  bytes += old_generation.bytes().substr(bytes.size() < old_generation.bytes().size() ? bytes.size() : 0);
  auto scan = ScanSegment(bytes);
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->messages.size(), 1u);
  EXPECT_EQ(scan->messages[0].envelope.queue_id, "NEW0000000001");
  EXPECT_FALSE(scan->clean_end);
}

TEST(SegmentScanTest, CommitNamingMissingBodyIsCorruption) {
  testing::SegmentBuilder builder(1);
  Envelope e = builder.AddMessage("0000000000001", "body");
  e.queue_id = "0000000000002";
  e.body[0].offset += 1;  // points at nothing
  AppendRecord(RecordType::kCommit, 1, 3, EncodeEnvelope(e), &builder.bytes());
  auto scan = ScanSegment(builder.bytes());
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->messages.size(), 1u);
  EXPECT_EQ(scan->stop_reason, "malformed payload");
}

TEST(SegmentScanTest, BadHeaderIsDataLoss) {
  testing::SegmentBuilder builder(1);
  std::string bytes = builder.bytes();
  bytes[3] ^= 1;
  EXPECT_EQ(ScanSegment(bytes).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(ScanSegment("short").ok());
}

TEST(QueueIdTest, UniqueAcrossShardsSecondsAndRestarts) {
  QueueIdGenerator a(0), b(1);
  std::set<std::string> seen;
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(seen.insert(a.Next(1'800'000'000)).second);
    ASSERT_TRUE(seen.insert(b.Next(1'800'000'000)).second);
  }
  // A restart in the same second: the recovered ids push the new generator forward.
  QueueIdGenerator restarted(0);
  for (const std::string& id : seen) restarted.Observe(id);
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(seen.insert(restarted.Next(1'800'000'000)).second);
  const std::string id = *seen.begin();
  EXPECT_EQ(id.size(), kQueueIdChars);
  QueueIdParts parts;
  EXPECT_TRUE(ParseQueueId(id, &parts));
  EXPECT_EQ(parts.seconds, 1'800'000'000u);
  EXPECT_EQ(FormatQueueId(parts), id);
  EXPECT_FALSE(ParseQueueId("ILOU00000000000", &parts));
  EXPECT_FALSE(ParseQueueId("short", &parts));
}

TEST(QueueIdTest, TheNodeKeepsTwoSpoolsApartInTheSameSecond) {
  // Two daemons (two machines, or two spools on one) with the same shard and second.
  QueueIdGenerator here(0, 17), there(0, 4242);
  const std::string a = here.Next(1'800'000'000), b = there.Next(1'800'000'000);
  EXPECT_NE(a, b);
  QueueIdParts parts;
  ASSERT_TRUE(ParseQueueId(b, &parts));
  EXPECT_EQ(parts.node, 4242u);
  EXPECT_EQ(parts.shard, 0u);
  EXPECT_EQ(parts.counter, 0u);
}

TEST(QueueIdTest, IdsOfAnOlderSpoolAreStillReadAndObserved) {
  // The 13-character form: seconds (34) | shard (10) | counter (20), no node.
  QueueIdGenerator older_layout_reader(1);
  QueueIdParts parts;
  ASSERT_TRUE(ParseQueueId("1NH9MTS000000", &parts));
  EXPECT_EQ(parts.node, 0u);
  older_layout_reader.Observe("1NH9MTS000000");
  QueueIdParts next;
  ASSERT_TRUE(ParseQueueId(older_layout_reader.Next(parts.seconds), &next));
  EXPECT_GT(next.seconds, parts.seconds);  // never the second an old id used
}

TEST(QueueIdTest, MoreThanAMillionInOneSecondBorrowsTheNext) {
  QueueIdGenerator g(3);
  std::string last;
  for (int i = 0; i < (1 << 20) + 10; ++i) {
    std::string id = g.Next(1'800'000'000);
    ASSERT_GT(id, last);  // ids sort by issue order within a shard
    last = std::move(id);
  }
}

}  // namespace
}  // namespace ringpost::queue
