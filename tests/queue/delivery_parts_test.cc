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
#include "queue/delivery_job.h"
#include "queue/delivery_outcome.h"
#include "queue/log_reader.h"
#include "queue/maildir.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::queue {
namespace {

const absl::Time kArrival = absl::FromUnixSeconds(1800000000);

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
  QueuedMessage m;
  m.envelope.queue_id = "ID";
  m.envelope.mail_from = "a@x";
  m.envelope.mail_params = "BODY=8BITMIME SMTPUTF8";
  for (const char* r : {"a@One.example", "b@two.example", "c@one.example.", "d@two.example"}) {
    m.envelope.recipients.push_back(Recipient{r, "", false, 0, 0});
  }
  m.envelope.recipients[3].final = true;  // recovered as delivered: not sent again
  m.envelope.recipients[1].attempts = 2;
  m.segment = 7;
  m.home_shard = 1;
  auto jobs = SplitByDomain(m);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0]->domain, "one.example");
  ASSERT_EQ(jobs[0]->recipients.size(), 2u);
  EXPECT_EQ(jobs[0]->recipients[1].index, 2u);
  EXPECT_EQ(jobs[1]->domain, "two.example");
  ASSERT_EQ(jobs[1]->recipients.size(), 1u);
  EXPECT_EQ(jobs[1]->recipients[0].attempts, 2u);
  EXPECT_TRUE(jobs[0]->eight_bit);
  EXPECT_TRUE(jobs[0]->smtputf8);
  EXPECT_EQ(jobs[0]->parts, jobs[1]->parts);
  EXPECT_EQ(jobs[0]->parts->unfinished.load(), 2u);
  EXPECT_EQ(jobs[0]->parts->segment, 7u);
}

TEST(SplitByDomain, AllFinalGivesNoJobs) {
  QueuedMessage m;
  m.envelope.recipients.push_back(Recipient{"a@x.example", "", true, 1, 0});
  EXPECT_TRUE(SplitByDomain(m).empty());
}

TEST(DomainShard, StableAndSpread) {
  EXPECT_EQ(DomainShard("example.com", 4), DomainShard("example.com", 4));
  int counts[4] = {};
  for (int i = 0; i < 4000; ++i) ++counts[DomainShard("d" + std::to_string(i) + ".example", 4)];
  for (int c : counts) EXPECT_GT(c, 800);
}

TEST(AccountingLine, IsOneJsonObjectWithEscapes) {
  AccountingEntry e;
  e.time = kArrival;
  e.queue_id = "ID";
  e.from = "a\"b@x";
  e.rcpt = "r@y";
  const std::string text("bad\xff\x01 \xc3\xa9");  // the entry holds views
  e.text = text;
  e.result = "deferred";
  e.code = 451;
  e.attempt = 2;
  std::string line;
  AppendAccountingLine(e, &line);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_NE(line.find("\"from\":\"a\\\"b@x\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"text\":\"bad\\ufffd\\u0001 \xc3\xa9\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"code\":451"), std::string::npos);
  EXPECT_NE(line.find("\"time\":\"2027-01-15T08:00:00.000000Z\""), std::string::npos) << line;
}

TEST(AccountingLog, RotatesPastTheSizeLimit) {
  const testing::ScratchDir scratch("accounting");
  const std::string& dir = scratch.path();
  AccountingLog log(dir + "/sub/a.jsonl", 100);
  ASSERT_TRUE(log.Open().ok());
  const std::string line(60, 'x');
  for (int i = 0; i < 3; ++i) log.Write(line + "\n");
  EXPECT_TRUE(std::filesystem::exists(dir + "/sub/a.jsonl.1"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/sub/a.jsonl.2"));
  EXPECT_EQ(std::filesystem::file_size(dir + "/sub/a.jsonl"), 61u);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Maildir, WritesIntoNewWithHeadersAndUnixLines) {
  const testing::ScratchDir scratch("maildir");
  const std::string root = scratch / "mail";
  MaildirMessage m;
  m.domain = "local.example";
  m.local_part = "Bob";
  m.return_path = "a@x";
  m.delivered_to = "Bob@local.example";
  m.body = "Subject: s\r\n\r\nline\r\nbare\rcr\r\n";
  std::string path;
  ASSERT_TRUE(DeliverToMaildir(root, m, 1, &path).ok());
  EXPECT_EQ(path.rfind(root + "/local.example/bob/new/", 0), 0u) << path;
  EXPECT_EQ(ReadFile(path),
            "Return-Path: <a@x>\nDelivered-To: Bob@local.example\nSubject: s\n\nline\nbare\rcr\n");
  EXPECT_TRUE(std::filesystem::is_empty(root + "/local.example/bob/tmp"));
  EXPECT_TRUE(std::filesystem::is_directory(root + "/local.example/bob/cur"));
  std::string second;
  ASSERT_TRUE(DeliverToMaildir(root, m, 2, &second).ok());
  EXPECT_NE(second, path);
}

TEST(Maildir, RefusesNamesThatEscapeTheFolder) {
  const testing::ScratchDir scratch("maildir-bad");
  const std::string root = scratch / "mail";
  MaildirMessage m;
  m.domain = "local.example";
  std::string path;
  for (const char* bad : {"../etc", ".hidden", "a/b", "a..b", "\"../x\"", ""}) {
    m.local_part = bad;
    EXPECT_TRUE(absl::IsInvalidArgument(DeliverToMaildir(root, m, 1, &path))) << bad;
  }
  m.local_part = "ok";
  m.domain = "../escape";
  EXPECT_TRUE(absl::IsInvalidArgument(DeliverToMaildir(root, m, 1, &path)));
  EXPECT_FALSE(std::filesystem::exists(root + "/../escape"));
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
