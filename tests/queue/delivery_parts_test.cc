// The pure parts of delivery: outcome decisions, the split by domain, the accounting
// line format, and Maildir files (real files in a temporary folder).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "queue/accounting_log.h"
#include "queue/schedule/delivery_job.h"
#include "queue/schedule/delivery_outcome.h"
#include "queue/log_reader.h"
#include "queue/maildir.h"
#include "queue/record.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::queue {
namespace {

const absl::Time kArrival = absl::FromUnixSeconds(1800000000);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RetrySchedule Schedule() {
  RetrySchedule s;
  s.initial = absl::Minutes(5);
  s.max = absl::Hours(4);
  s.lifetime = absl::Hours(24 * 5);
  return s;
}

TEST(DecideOutcome, TwoHundredsAreDelivered) {
  const RecipientOutcome o = DecideOutcome(Schedule(), {250, "2.0.0", "Ok"}, kArrival, kArrival, 0, 0.5);
  EXPECT_EQ(o.outcome, Outcome::kDelivered);
  EXPECT_EQ(o.attempt, 1u);
}

TEST(DecideOutcome, FiveHundredsBounceWithTheServersCode) {
  // RFC 3463: the server's enhanced code is the DSN's Status; without one, the class.
  EXPECT_EQ(DecideOutcome(Schedule(), {550, "5.1.1", "no"}, kArrival, kArrival, 2, 0.5).status, "5.1.1");
  const RecipientOutcome o = DecideOutcome(Schedule(), {554, "", "no"}, kArrival, kArrival, 0, 0.5);
  EXPECT_EQ(o.outcome, Outcome::kBounced);
  EXPECT_EQ(o.status, "5.0.0");
  EXPECT_TRUE(o.bounces());
}

TEST(DecideOutcome, FourHundredsAndNoReplyAreDeferredWithBackoff) {
  // RFC 5321 §4.5.4.1: retry later; the third failure waits initial x 4 (±10%).
  const absl::Time now = kArrival + absl::Hours(1);
  const RecipientOutcome o = DecideOutcome(Schedule(), {451, "4.3.0", "later"}, kArrival, now, 2, 0.5);
  EXPECT_EQ(o.outcome, Outcome::kDeferred);
  EXPECT_EQ(o.attempt, 3u);
  EXPECT_EQ(o.next_attempt, now + absl::Minutes(20));
  EXPECT_EQ(o.status, "4.3.0");
  const RecipientOutcome lost = DecideOutcome(Schedule(), {0, "", "no reply"}, kArrival, now, 0, 0.5);
  EXPECT_EQ(lost.outcome, Outcome::kDeferred);
  EXPECT_EQ(lost.status, "4.4.1");
  EXPECT_EQ(DecideOutcome(Schedule(), {0, "4.4.3", "no route"}, kArrival, now, 0, 0.5).status, "4.4.3");
  EXPECT_EQ(DecideOutcome(Schedule(), {421, "", "bye"}, kArrival, now, 0, 0.5).status, "4.0.0");
}

TEST(DecideOutcome, PastTheLifetimeATemporaryFailureExpires) {
  const absl::Time now = kArrival + absl::Hours(24 * 5) - absl::Minutes(1);
  const RecipientOutcome o = DecideOutcome(Schedule(), {451, "4.3.0", "later"}, kArrival, now, 30, 0.5);
  EXPECT_EQ(o.outcome, Outcome::kExpired);
  EXPECT_EQ(o.status, "5.4.7");  // RFC 3463: delivery time expired
  EXPECT_TRUE(o.bounces());
}

TEST(SplitByDomain, OneJobPerDomainWithEnvelopeIndexes) {
  Envelope envelope;
  envelope.queue_id = "ID";
  envelope.mail_from = "a@x";
  envelope.mail_params = "BODY=8BITMIME SMTPUTF8";
  envelope.message_ref = 9;
  envelope.body = {{100, 10}, {200, 5}};
  envelope.body_bytes = 15;
  for (const char* r : {"a@One.example", "b@two.example", "c@one.example.", "d@two.example"}) {
    envelope.recipients.push_back(Recipient{r, "", false, 0, 0});
  }
  envelope.recipients[3].final = true;  // recovered as delivered: not sent again
  envelope.recipients[1].attempts = 2;
  std::shared_ptr<StoredMessage> message = StoredMessageOf(envelope);
  EXPECT_TRUE(message->eight_bit);
  EXPECT_TRUE(message->smtputf8);
  // The body's place travels with the message: delivery reads it without the envelope.
  EXPECT_EQ(message->body.message_ref, 9u);
  EXPECT_EQ(message->body.extents, envelope.body);
  EXPECT_EQ(message->body.bytes, 15u);
  auto jobs = SplitByDomain(message, envelope.recipients);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0]->domain, "one.example");
  ASSERT_EQ(jobs[0]->recipients.size(), 2u);
  EXPECT_EQ(jobs[0]->recipients[1].index, 2u);
  EXPECT_EQ(jobs[1]->domain, "two.example");
  ASSERT_EQ(jobs[1]->recipients.size(), 1u);
  EXPECT_EQ(jobs[1]->recipients[0].attempts, 2u);
  EXPECT_EQ(jobs[0]->message, jobs[1]->message);
  EXPECT_EQ(message->unfinished.load(), 2u);
}

TEST(SplitByDomain, AllFinalGivesNoJobs) {
  Envelope envelope;
  envelope.recipients.push_back(Recipient{"a@x.example", "", true, 1, 0});
  EXPECT_TRUE(SplitByDomain(StoredMessageOf(envelope), envelope.recipients).empty());
}

TEST(DomainShard, IsFnv1aOfTheDomainModuloTheShards) {
  // Pinned: every shard, and every version, must agree on a domain's home.
  EXPECT_EQ(DomainShard("example.com", 4), 2);
  EXPECT_EQ(DomainShard("gmail.com", 2), 0);
  EXPECT_EQ(DomainShard("example.org", 16), 1);
  EXPECT_EQ(DomainShard("example.com", 1), 0);
  int counts[4] = {};
  for (int i = 0; i < 4000; ++i) ++counts[DomainShard("d" + std::to_string(i) + ".example", 4)];
  for (int c : counts) EXPECT_GT(c, 800);
}

TEST(AccountingLine, IsOneJsonObjectWithEscapes) {
  AccountingEntry e;
  e.type = AccountingType::kTransient;
  e.time = kArrival + absl::Milliseconds(2500);
  e.arrival = kArrival;
  e.next_attempt = kArrival + absl::Minutes(5);
  e.queue_id = "ID";
  e.from = "a\"b@x";
  e.rcpt = "r@y";
  const std::string text("bad\xff\x01 \xc3\xa9");  // the entry holds views
  e.text = text;
  e.code = 451;
  e.attempt = 2;
  std::string line;
  AppendAccountingLine(e, &line);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.rfind("{\"type\":\"transient\",\"time\":\"2027-01-15T08:00:02.500000Z\",", 0), 0u) << line;
  EXPECT_NE(line.find("\"from\":\"a\\\"b@x\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"text\":\"bad\\ufffd\\u0001 \xc3\xa9\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"code\":451"), std::string::npos);
  EXPECT_NE(line.find("\"queued_seconds\":2.500000,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"next_attempt\":\"2027-01-15T08:05:00.000000Z\""), std::string::npos) << line;
  EXPECT_EQ(line.find("by_operator"), std::string::npos) << line;
}

TEST(AccountingLine, ReceptionNamesEveryRecipient) {
  const std::vector<absl::string_view> rcpts = {"a@x", "b@y"};
  ReceptionEntry e;
  e.time = kArrival;
  e.queue_id = "Q";
  e.client = "127.0.0.1";
  e.helo = "client.test";
  e.from = "s@z";
  e.protocol = "ESMTP";
  e.message_id = "<m@z>";
  e.recipients = rcpts;
  e.size = 42;
  std::string line;
  AppendReceptionLine(e, &line);
  EXPECT_EQ(line,
            "{\"type\":\"reception\",\"time\":\"2027-01-15T08:00:00.000000Z\",\"queue_id\":\"Q\","
            "\"client\":\"127.0.0.1\",\"helo\":\"client.test\",\"from\":\"s@z\",\"rcpts\":[\"a@x\",\"b@y\"],"
            "\"size\":42,\"message_id\":\"<m@z>\",\"protocol\":\"ESMTP\",\"tls\":\"none\"}\n");
}

TEST(AccountingLine, AdminSaysWhatWasDoneToHowMany) {
  AdminEntry e;
  e.time = kArrival;
  e.action = "suspend";
  e.domain = "slow.example";
  e.until = absl::InfiniteFuture();
  e.jobs = 3;
  e.recipients = 4;
  e.client = "unix";
  std::string line;
  AppendAdminLine(e, &line);
  EXPECT_EQ(line,
            "{\"type\":\"admin\",\"time\":\"2027-01-15T08:00:00.000000Z\",\"action\":\"suspend\","
            "\"selector\":{\"domain\":\"slow.example\"},\"jobs\":3,\"recipients\":4,\"until\":null,"
            "\"client\":\"unix\"}\n");
}

TEST(AccountingLog, RotatesPastTheSizeLimit) {
  const testing::ScratchDir scratch("accounting");
  const std::string& dir = scratch.path();
  AccountingLog log(dir + "/sub/a.jsonl", 100);
  ASSERT_TRUE(log.Open().ok());
  AccountingWriter writer(log);
  for (char c : {'a', 'b', 'c'}) {
    writer.Append(std::string(60, c) + "\n");
    writer.Flush();
  }
  EXPECT_EQ(ReadFile(dir + "/sub/a.jsonl.2"), std::string(60, 'a') + "\n");
  EXPECT_EQ(ReadFile(dir + "/sub/a.jsonl.1"), std::string(60, 'b') + "\n");
  EXPECT_EQ(ReadFile(dir + "/sub/a.jsonl"), std::string(60, 'c') + "\n");
}

TEST(AccountingLog, WritersOfEveryShardShareOneFileAndOneRotation) {
  // Two writers (two shards) append to one file through their own descriptors; when
  // one rotates it, the other follows to the new file before its next write.
  const testing::ScratchDir scratch("accounting-shared");
  const std::string path = scratch / "a.jsonl";
  AccountingLog log(path, 1000);
  ASSERT_TRUE(log.Open().ok());
  AccountingWriter first(log), second(log);
  first.Append("first 1\n");
  first.Flush();
  second.Append("second 1\n");
  second.Flush();
  EXPECT_EQ(ReadFile(path), "first 1\nsecond 1\n");
  first.Append(std::string(989, 'x') + "\n");  // past the limit: rotates, then writes
  first.Flush();
  second.Append("second 2\n");
  second.Flush();
  EXPECT_EQ(ReadFile(path + ".1"), "first 1\nsecond 1\n");
  EXPECT_EQ(ReadFile(path), std::string(989, 'x') + "\nsecond 2\n");
}

TEST(Maildir, PlansAUniqueFileInTmpAndNew) {
  MaildirMessage m;
  m.domain = "local.example";
  m.local_part = "\"Bob\"";
  m.return_path = "a@x";
  m.delivered_to = "Bob@local.example";
  auto file = PlanMaildirFile("/m", m, 7, absl::FromUnixMicros(1800000000123456), 42, "host");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->folders, (std::vector<std::string>{"/m", "/m/local.example", "/m/local.example/bob",
                                                    "/m/local.example/bob/tmp", "/m/local.example/bob/new",
                                                    "/m/local.example/bob/cur"}));
  EXPECT_EQ(file->tmp_path, "/m/local.example/bob/tmp/1800000000.M123456P42Q7.host");
  EXPECT_EQ(file->new_path, "/m/local.example/bob/new/1800000000.M123456P42Q7.host");
  EXPECT_EQ(file->new_folder, "/m/local.example/bob/new");
  EXPECT_EQ(file->header, "Return-Path: <a@x>\nDelivered-To: Bob@local.example\n");
  EXPECT_EQ(UnixLines("Subject: s\r\n\r\nline\r\nbare\rcr\r\n"), "Subject: s\n\nline\nbare\rcr\n");
}

TEST(Maildir, RefusesNamesThatEscapeTheFolder) {
  MaildirMessage m;
  m.domain = "local.example";
  for (const char* bad : {"../etc", ".hidden", "a/b", "a..b", "\"../x\"", ""}) {
    m.local_part = bad;
    EXPECT_TRUE(absl::IsInvalidArgument(PlanMaildirFile("/m", m, 1, kArrival, 1, "h").status())) << bad;
  }
  m.local_part = "ok";
  m.domain = "../escape";
  EXPECT_TRUE(absl::IsInvalidArgument(PlanMaildirFile("/m", m, 1, kArrival, 1, "h").status()));
}

TEST(SegmentFiles, OpenWhileUsedClosedWithTheLastUser) {
  const testing::ScratchDir scratch("segment-files");
  const std::string path = scratch / "segment";
  std::ofstream(path) << "x";
  SegmentFiles files;
  EXPECT_FALSE(files.Open(path).ok());  // not acquired
  files.Acquire(path);
  files.Acquire(path);
  auto fd = files.Open(path);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(*files.Open(path), *fd);  // one descriptor per file
  EXPECT_EQ(files.open_files(), 1u);
  files.Release(path);
  EXPECT_EQ(files.open_files(), 1u);
  files.Release(path);
  EXPECT_EQ(files.open_files(), 0u);  // a deleted segment's space is not held
}

}  // namespace
}  // namespace ringpost::queue
