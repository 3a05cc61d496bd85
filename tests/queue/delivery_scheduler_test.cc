// The delivery scheduler's policies, one test each, with a fake clock: no sockets, no
// disk, no waiting (tests/queue/scheduler_harness.h).
#include "queue/schedule/delivery_scheduler.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/queue/scheduler_harness.h"

namespace ringpost::queue {
namespace {

using testing::OpenAndGreet;
using testing::Reply;
using testing::SchedulerHarness;
using testing::SmtpHop;

std::vector<std::string> Addresses(const std::string& domain, const std::vector<std::string>& local_parts) {
  std::vector<std::string> out;
  for (const std::string& l : local_parts) out.push_back(l + "@" + domain);
  return out;
}

TEST(DeliverySchedulerTest, AMessageGoesFromArrivalToFinishedAndTheIdleConnectionQuits) {
  SchedulerHarness h;
  std::unique_ptr<DeliveryJob> job = h.Job("dest.example", {"a", "b"});
  job->message->home_shard = 3;  // committed on another shard than this one
  h.Accept(std::move(job));
  EXPECT_EQ(h.Take<ResolveRoute>().domain, "dest.example");
  EXPECT_TRUE(h.actions.empty());
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const OpenConnection open = h.Take<OpenConnection>();
  EXPECT_EQ(open.address.ToString(), "192.0.2.1:25");
  EXPECT_FALSE(open.plaintext);
  h.Ready(open.connection);
  const SendMessage send = h.Take<SendMessage>();
  EXPECT_EQ(send.connection, open.connection);
  EXPECT_EQ(send.recipients, Addresses("dest.example", {"a", "b"}));
  EXPECT_EQ(send.message->queue_id, "Q1");
  h.Sent(open.connection, {Reply(250, "2.0.0"), Reply(250, "2.0.0")});
  const std::string accounting = h.AccountingText();
  EXPECT_EQ(std::count(accounting.begin(), accounting.end(), '\n'), 2);
  EXPECT_TRUE(absl::StrContains(accounting, "\"type\":\"delivery\"")) << accounting;
  EXPECT_TRUE(absl::StrContains(accounting, "\"host\":\"192.0.2.1:25\"")) << accounting;
  // The job finishes only once its result records are written.
  const WriteResults write = h.Take<WriteResults>();
  ASSERT_EQ(write.results.size(), 2u);
  EXPECT_EQ(write.home_shard, 3);  // the message's own log keeps its results
  EXPECT_EQ(write.results[1].recipient_index, 1u);
  EXPECT_EQ(write.results[1].outcome, Outcome::kDelivered);
  EXPECT_EQ(h.Count<JobFinished>(), 0u);
  h.ResultsWritten(write.batch);
  EXPECT_EQ(h.Take<JobFinished>().message->queue_id, "Q1");
  // RFC 5321 §4.1.1.10 / DESIGN.md: an idle connection ends with QUIT after idle_timeout.
  h.Ready(open.connection);
  h.Advance(absl::Seconds(4));
  EXPECT_EQ(h.Count<CloseConnection>(), 0u);
  h.Advance(absl::Seconds(2));
  EXPECT_EQ(h.Take<CloseConnection>().connection, open.connection);
  h.Closed(open.connection);
  EXPECT_EQ(h.scheduler->jobs(), 0u);
  EXPECT_EQ(h.scheduler->connections(), 0u);
  EXPECT_EQ(h.scheduler->domains(), 0u);  // nothing left to remember
  EXPECT_TRUE(h.actions.empty());
}

TEST(DeliverySchedulerTest, OneLookupAndAsManyConnectionsAsDueJobsUpToTheDomainLimit) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.domain_max_connections = 3;
  SchedulerHarness h(config);
  for (int i = 0; i < 10; ++i) h.Accept(h.Job("dest.example", {"a"}));
  EXPECT_EQ(h.TakeAll<ResolveRoute>().size(), 1u);
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const std::vector<OpenConnection> opens = h.TakeAll<OpenConnection>();
  ASSERT_EQ(opens.size(), 3u);
  // A connection carries jobs one after another.
  h.Ready(opens[0].connection);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(h.Take<SendMessage>().connection, opens[0].connection);
    h.Sent(opens[0].connection, {Reply(250)});
    h.Ready(opens[0].connection);
  }
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
}

TEST(DeliverySchedulerTest, AtTheHostLimitAnIdleConnectionIsHandedToTheDomainWaitingForItsHost) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.host_max_connections = 1;
  SchedulerHarness h(config);
  h.Accept(h.Job("a.example", {"x"}));
  h.Accept(h.Job("b.example", {"y"}));
  EXPECT_EQ(h.TakeAll<ResolveRoute>().size(), 2u);
  h.Resolved("a.example", SmtpHop({"192.0.2.1:25"}));
  h.Resolved("b.example", SmtpHop({"192.0.2.1:25"}));  // the same smarthost
  const std::vector<OpenConnection> opens = h.TakeAll<OpenConnection>();
  ASSERT_EQ(opens.size(), 1u);  // the host allows one
  h.Ready(opens[0].connection);
  EXPECT_EQ(h.Take<SendMessage>().recipients, Addresses("a.example", {"x"}));
  h.Sent(opens[0].connection, {Reply(250)});
  h.Ready(opens[0].connection);
  // a.example has nothing due: its connection goes, as it is, to b.example.
  EXPECT_EQ(h.Take<SendMessage>().recipients, Addresses("b.example", {"y"}));
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  EXPECT_EQ(h.scheduler->stats().connections_handed_over, 1u);
}

TEST(DeliverySchedulerTest, DomainsWaitingForOneSmarthostTakeItsConnectionsInTheOrderTheyBeganToWait) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.host_max_connections = 2;
  SchedulerHarness h(config);
  const std::vector<std::string> domains = {"d0.example", "d1.example", "d2.example",
                                            "d3.example", "d4.example", "d5.example"};
  for (const std::string& d : domains) h.Accept(h.Job(d, {"x"}));
  EXPECT_EQ(h.TakeAll<ResolveRoute>().size(), domains.size());
  for (const std::string& d : domains) h.Resolved(d, SmtpHop({"192.0.2.1:25"}));
  const std::vector<OpenConnection> opens = h.TakeAll<OpenConnection>();
  ASSERT_EQ(opens.size(), 2u);  // the host allows two; d2..d5 wait, in this order
  for (const OpenConnection& open : opens) h.Ready(open.connection);
  std::vector<std::string> sent;
  for (int round = 0; round < 3; ++round) {
    for (size_t c = 0; c < opens.size(); ++c) {
      const SendMessage send = h.Take<SendMessage>();
      ASSERT_EQ(send.recipients.size(), 1u);
      sent.push_back(send.recipients[0].substr(2));
      h.Sent(send.connection, {Reply(250)});
      h.Ready(send.connection);
    }
  }
  EXPECT_EQ(sent, domains);
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  EXPECT_EQ(h.scheduler->stats().connections_handed_over, 4u);
}

TEST(DeliverySchedulerTest, AConnectionIsClosedAfterMaxMessagesAndTheRestGoOnANewOne) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.max_messages_per_connection = 2;
  config.domain_max_connections = 1;
  SchedulerHarness h(config);
  for (int i = 0; i < 3; ++i) h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId first = OpenAndGreet(h);
  for (int i = 0; i < 2; ++i) {
    h.Take<SendMessage>();
    h.Sent(first, {Reply(250)});
    h.Ready(first);
  }
  EXPECT_EQ(h.Take<CloseConnection>().connection, first);
  EXPECT_EQ(h.Count<SendMessage>(), 0u);
  h.Closed(first, "QUIT");
  const ConnectionId second = OpenAndGreet(h);
  EXPECT_NE(second, first);
  EXPECT_EQ(h.Take<SendMessage>().connection, second);
}

TEST(DeliverySchedulerTest, AFailedConnectionMovesToTheNextAddressAndWhenAllFailTheDomainRests) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25", "192.0.2.2:25"}));
  const OpenConnection first = h.Take<OpenConnection>();
  EXPECT_EQ(first.address.ToString(), "192.0.2.1:25");
  h.Closed(first.connection, "connection refused");
  const OpenConnection second = h.Take<OpenConnection>();
  EXPECT_EQ(second.address.ToString(), "192.0.2.2:25");
  h.Closed(second.connection, "connection refused");
  // Every address failed in a row: the due job is deferred, the domain rests.
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDeferred);
  EXPECT_TRUE(absl::StrContains(h.results[0].text, "connection to 192.0.2.2:25 failed")) << h.results[0].text;
  EXPECT_EQ(h.scheduler->stats().connection_failures, 2u);
  h.Advance(absl::Minutes(4));  // the rest is RetryDelay(1): 5 min ±10%
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  h.Advance(absl::Minutes(2));
  EXPECT_EQ(h.TakeAll<OpenConnection>().size(), 1u);
}

TEST(DeliverySchedulerTest, Rfc5321_4_5_4_1_TemporaryFailuresRetryWithDoublingBackoff) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.idle_timeout = absl::Hours(1);  // the same connection waits for the retry
  SchedulerHarness h(config);
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  const absl::Time first_attempt = h.now;
  h.Sent(c, {Reply(451, "4.3.0", "try later")});
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].attempt, 1u);
  const absl::Time next = absl::FromUnixMicros(static_cast<int64_t>(h.results[0].next_attempt_unix_micros));
  EXPECT_GE(next - first_attempt, absl::Seconds(270));  // 5 min -10%
  EXPECT_LE(next - first_attempt, absl::Seconds(330));  // 5 min +10%
  h.Ready(c);
  h.Advance(absl::Seconds(269));
  EXPECT_EQ(h.Count<SendMessage>(), 0u);
  h.Advance(absl::Seconds(62));
  const SendMessage again = h.Take<SendMessage>();
  EXPECT_EQ(again.connection, c);
  h.Sent(c, {Reply(451, "4.3.0", "try later")});
  h.results.clear();
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].attempt, 2u);
  const absl::Time third = absl::FromUnixMicros(static_cast<int64_t>(h.results[0].next_attempt_unix_micros));
  EXPECT_GE(third - h.now, absl::Seconds(540));  // 10 min -10%
  EXPECT_LE(third - h.now, absl::Seconds(660));
}

TEST(DeliverySchedulerTest, Rfc5321_4_5_4_1_PastTheLifetimeATemporaryFailureExpiresAndBounces) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}, "sender@origin.example", h.now - absl::Hours(24 * 5) + absl::Minutes(1)));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(451, "4.3.0", "still busy")});
  // The DSN is written before the results that say "expired".
  EXPECT_EQ(h.Count<WriteResults>(), 0u);
  const WriteBounce bounce = h.Take<WriteBounce>();
  ASSERT_EQ(bounce.recipients.size(), 1u);
  EXPECT_EQ(bounce.recipients[0].status, "5.4.7");  // RFC 3463: delivery time expired
  EXPECT_TRUE(absl::StrContains(bounce.recipients[0].reason, "delivery time expired")) << bounce.recipients[0].reason;
  h.BounceWritten(bounce.batch, true);
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kExpired);
  EXPECT_EQ(h.Take<JobFinished>().message->queue_id, "Q1");
  EXPECT_EQ(h.scheduler->stats().dsns_queued, 1u);
}

TEST(DeliverySchedulerTest, Rfc3464_APermanentFailureBouncesOnlyTheFailedRecipientsAfterTheDsnIsWritten) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"good", "gone"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(250, "2.0.0"), Reply(550, "5.1.1", "no such user")});
  EXPECT_EQ(h.Count<WriteResults>(), 0u);
  const WriteBounce bounce = h.Take<WriteBounce>();
  ASSERT_EQ(bounce.recipients.size(), 1u);
  EXPECT_EQ(bounce.recipients[0].address, "gone@dest.example");
  EXPECT_EQ(bounce.recipients[0].status, "5.1.1");
  EXPECT_EQ(bounce.recipients[0].diagnostic, "550 5.1.1 no such user");
  EXPECT_EQ(bounce.recipients[0].reason, "the server 192.0.2.1:25 refused it");
  EXPECT_EQ(bounce.message->mail_from, "sender@origin.example");
  h.BounceWritten(bounce.batch, true);
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(h.results[1].outcome, Outcome::kBounced);
  EXPECT_EQ(h.results[1].code, 550);
  EXPECT_EQ(h.TakeAll<JobFinished>().size(), 1u);
}

// RFC 3461 §4.1: NOTIFY says which reports a recipient gets. NEVER: none, not even a
// bounce; SUCCESS: "relayed" when the next hop took no DSN parameters (a hop that offers
// DSN reports itself), "delivered" for a Maildir; absent: failures only.
TEST(DeliverySchedulerTest, Rfc3461_NotifyDecidesWhichReportsGo) {
  SchedulerHarness h;
  auto job = h.Job("dest.example", {"never", "success", "failure_only", "plain"});
  job->recipients[0].dsn.notify = core::kNotifyNever;
  job->recipients[1].dsn.notify = core::kNotifySuccess;
  job->recipients[1].dsn.orcpt = "rfc822;orig+2Bsuccess@example.org";
  job->recipients[2].dsn.notify = core::kNotifyFailure;
  h.Accept(std::move(job));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  const SendMessage send = h.Take<SendMessage>();
  EXPECT_EQ(send.recipient_dsn,
            (std::vector<std::string>{" NOTIFY=NEVER", " NOTIFY=SUCCESS ORCPT=rfc822;orig+2Bsuccess@example.org",
                                      " NOTIFY=FAILURE", ""}));
  h.Sent(c, {Reply(550, "5.1.1", "gone"), Reply(250, "2.0.0"), Reply(250, "2.0.0"), Reply(550, "5.1.1", "gone")});
  const WriteBounce report = h.Take<WriteBounce>();
  ASSERT_EQ(report.recipients.size(), 2u);  // nothing for NEVER (failed) nor FAILURE-only (delivered)
  EXPECT_EQ(report.recipients[0].address, "success@dest.example");
  EXPECT_EQ(report.recipients[0].action, DsnAction::kRelayed);
  EXPECT_EQ(report.recipients[0].status, "2.0.0");
  EXPECT_EQ(report.recipients[0].original_recipient, "rfc822; orig+success@example.org");
  EXPECT_EQ(report.recipients[1].address, "plain@dest.example");
  EXPECT_EQ(report.recipients[1].action, DsnAction::kFailed);
  h.BounceWritten(report.batch, true);
  EXPECT_EQ(h.WriteAllResults(), 1);

  // A next hop that offers DSN took NOTIFY on: no "relayed" report from here.
  auto with_dsn = h.Job("dest.example", {"success2"});
  with_dsn->recipients[0].dsn.notify = core::kNotifySuccess;
  h.Accept(std::move(with_dsn));
  h.Ready(c);
  h.Take<SendMessage>();
  AttemptReply passed_on = Reply(250, "2.0.0");
  passed_on.handoff = Handoff::kRelayedWithDsn;
  h.Sent(c, {passed_on});
  EXPECT_EQ(h.Count<WriteBounce>(), 0u);
}

TEST(DeliverySchedulerTest, Rfc3464_NotifySuccessForLocalDeliveryIsADeliveredReport) {
  SchedulerHarness h;
  auto job = h.Job("local.example", {"user"});
  job->recipients[0].dsn.notify = core::kNotifySuccess | core::kNotifyFailure;
  h.Accept(std::move(job));
  NextHop local;
  local.kind = NextHop::Kind::kLocal;
  h.Resolved("local.example", local);
  const DeliverLocally deliver = h.Take<DeliverLocally>();
  AttemptReply delivered = Reply(250, "2.0.0", "delivered to maildir x");
  delivered.handoff = Handoff::kDelivered;
  h.LocalDelivered(deliver.job, {delivered});
  const WriteBounce report = h.Take<WriteBounce>();
  ASSERT_EQ(report.recipients.size(), 1u);
  EXPECT_EQ(report.recipients[0].action, DsnAction::kDelivered);
}

// --delay_warning_time: one "delayed" report per recipient once it has waited that long,
// unless NOTIFY leaves DELAY out.
TEST(DeliverySchedulerTest, Rfc3464_ADelayWarningGoesOnceAfterTheConfiguredTime) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.delay_warning = absl::Minutes(10);
  config.idle_timeout = absl::Hours(10);  // the same connection waits for every retry
  SchedulerHarness h(config);
  auto job = h.Job("dest.example", {"waits", "no_delay"});
  job->recipients[1].dsn.notify = core::kNotifyFailure;
  h.Accept(std::move(job));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(451, "4.3.0", "later"), Reply(451, "4.3.0", "later")});
  EXPECT_EQ(h.Count<WriteBounce>(), 0u);  // 0 minutes: too soon
  h.WriteAllResults();
  int reports = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    h.Ready(c);
    h.Advance(absl::Hours(1));
    // Each recipient's retry has its own jitter: an attempt may carry one or both.
    const std::vector<SendMessage> sends = h.TakeAll<SendMessage>();
    ASSERT_FALSE(sends.empty()) << attempt;
    h.Sent(c, std::vector<AttemptReply>(sends[0].recipients.size(), Reply(451, "4.3.0", "later")));
    for (const WriteBounce& report : h.TakeAll<WriteBounce>()) {
      ++reports;
      ASSERT_EQ(report.recipients.size(), 1u);
      EXPECT_EQ(report.recipients[0].address, "waits@dest.example");
      EXPECT_EQ(report.recipients[0].action, DsnAction::kDelayed);
      EXPECT_EQ(report.recipients[0].status, "4.3.0");
      h.BounceWritten(report.batch, true);
    }
    h.WriteAllResults();
  }
  EXPECT_EQ(reports, 1);
}

TEST(DeliverySchedulerTest, ABounceThatCannotBeWrittenKeepsItsRecipientsDeferred) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"gone"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(550, "5.1.1", "no such user")});
  h.BounceWritten(h.Take<WriteBounce>().batch, false);  // the spool is full
  EXPECT_EQ(h.WriteAllResults(), 0);  // no record says "bounced"
  EXPECT_EQ(h.Count<JobFinished>(), 0u);
  h.Ready(c);
  h.Advance(absl::Minutes(4));
  EXPECT_EQ(h.Count<SendMessage>(), 0u);
  h.Advance(absl::Minutes(2));  // tried again after retry.initial, the bounce comes later
  EXPECT_EQ(h.TakeAll<SendMessage>().size() + h.TakeAll<OpenConnection>().size(), 1u);
}

TEST(DeliverySchedulerTest, Rfc5321_6_1_AFailureOfANullSenderMessageIsNeverBounced) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"gone"}, /*from=*/""));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(550, "5.1.1")});
  EXPECT_EQ(h.Count<WriteBounce>(), 0u);
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kBounced);
  EXPECT_EQ(h.scheduler->stats().dsns_suppressed, 1u);
  EXPECT_EQ(h.TakeAll<JobFinished>().size(), 1u);
}

TEST(DeliverySchedulerTest, Rfc5321_4_5_3_1_10_RecipientsAnswered452GoAgainAtOnceWithoutAnAttempt) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a", "b", "c"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(250), Reply(452, "4.5.3", "too many recipients"), Reply(452, "4.5.3", "too many")});
  h.Ready(c);
  const WriteResults write = h.Take<WriteResults>();
  ASSERT_EQ(write.results.size(), 1u);  // only the delivered one has a record
  EXPECT_EQ(write.results[0].recipient_index, 0u);
  EXPECT_EQ(h.Count<SendMessage>(), 0u);
  h.ResultsWritten(write.batch);
  const SendMessage again = h.Take<SendMessage>();  // at once, same connection
  EXPECT_EQ(again.connection, c);
  EXPECT_EQ(again.recipients, Addresses("dest.example", {"b", "c"}));
  h.Sent(c, {Reply(250), Reply(250)});
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[0].attempt, 1u);  // the 452 did not count as an attempt
}

TEST(DeliverySchedulerTest, ALocalDomainIsDeliveredLocally) {
  SchedulerHarness h;
  h.Accept(h.Job("local.example", {"bob", "carol"}));
  NextHop local;
  local.kind = NextHop::Kind::kLocal;
  h.Resolved("local.example", local);
  const DeliverLocally deliver = h.Take<DeliverLocally>();
  EXPECT_EQ(deliver.domain, "local.example");
  EXPECT_EQ(deliver.recipients, Addresses("local.example", {"bob", "carol"}));
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  // A full mailbox beside a delivered one is an ordinary deferral, not the 452 of
  // "too many recipients" (which goes again at once).
  h.LocalDelivered(deliver.job, {Reply(250, "2.0.0", "delivered to maildir /m/x"), Reply(452, "4.2.2", "full")});
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(h.results[1].outcome, Outcome::kDeferred);
  EXPECT_TRUE(absl::StrContains(h.AccountingText(), "\"host\":\"maildir\""));
}

TEST(DeliverySchedulerTest, ATemporaryRouteFailureDefersAndTheRouteIsAskedAgain) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  h.Take<ResolveRoute>();
  NextHop fail;
  fail.kind = NextHop::Kind::kTempFail;
  fail.status = "4.4.3";
  fail.text = "DNS timeout";
  h.Resolved("dest.example", fail);
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDeferred);
  EXPECT_EQ(h.results[0].text, "DNS timeout");
  h.Advance(absl::Minutes(6));
  EXPECT_EQ(h.TakeAll<ResolveRoute>().size(), 1u);
}

TEST(DeliverySchedulerTest, ANonexistentDomainBouncesWith5_1_2) {
  SchedulerHarness h;
  h.Accept(h.Job("nowhere.example", {"a"}));
  NextHop fail;
  fail.kind = NextHop::Kind::kPermFail;
  fail.status = "5.1.2";
  fail.code = 550;
  fail.text = "NXDOMAIN";
  h.Resolved("nowhere.example", fail);
  const WriteBounce bounce = h.Take<WriteBounce>();
  ASSERT_EQ(bounce.recipients.size(), 1u);
  EXPECT_EQ(bounce.recipients[0].status, "5.1.2");
  EXPECT_EQ(bounce.recipients[0].reason, "NXDOMAIN");  // no server refused it: the reason is the lookup's
}

TEST(DeliverySchedulerTest, ALongDeferredJobIsCopiedForwardAndGoesOnAsTheCopy) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.compaction_age = absl::Minutes(30);
  config.retry.initial = absl::Minutes(40);
  config.retry.max = absl::Hours(4);
  SchedulerHarness h(config);
  std::unique_ptr<DeliveryJob> job = h.Job("dest.example", {"a", "b"});
  job->message->home_shard = 1;
  h.Accept(std::move(job));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(451), Reply(451)});
  h.WriteAllResults();
  EXPECT_EQ(h.Count<CopyForward>(), 0u);  // taken over just now: not old yet
  h.Advance(absl::Minutes(45));
  h.TakeAll<CloseConnection>();
  h.Closed(c);
  c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(451), Reply(451)});
  h.WriteAllResults();
  const CopyForward copy = h.Take<CopyForward>();
  ASSERT_EQ(copy.recipients.size(), 2u);
  EXPECT_EQ(copy.recipients[0].attempts, 2u);
  EXPECT_EQ(copy.message->queue_id, "Q1");
  auto moved = std::make_shared<StoredMessage>();
  moved->queue_id = "C1";
  moved->arrival_unix_micros = copy.message->arrival_unix_micros;
  h.CopiedForward(copy.job, moved);
  // The old message lets go once "relocated" records for both recipients are written.
  const WriteResults relocated = h.Take<WriteResults>();
  EXPECT_EQ(relocated.finished, copy.message);
  EXPECT_EQ(relocated.home_shard, 1);  // written where the old message lives
  ASSERT_EQ(relocated.results.size(), 2u);
  EXPECT_EQ(relocated.results[1].outcome, Outcome::kRelocated);
  EXPECT_EQ(relocated.results[1].queue_id, "Q1");
  EXPECT_EQ(relocated.results[1].text, "relocated to C1");
  EXPECT_EQ(h.scheduler->stats().jobs_compacted, 1u);
  h.Advance(absl::Hours(2));
  h.TakeAll<CloseConnection>();
  h.Closed(c);
  h.Ready(h.Take<OpenConnection>().connection);
  EXPECT_EQ(h.Take<SendMessage>().message->queue_id, "C1");  // the job is the copy now
}

TEST(DeliverySchedulerTest, Rfc7435_AHostWhoseTlsHandshakeFailedGetsPlaintextForAWhile) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.tls_fallback = absl::Hours(1);
  SchedulerHarness h(config);
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const OpenConnection tls = h.Take<OpenConnection>();
  EXPECT_FALSE(tls.plaintext);
  h.TlsFailed(tls.connection);
  h.Closed(tls.connection, "TLS handshake failed");
  const OpenConnection plain = h.Take<OpenConnection>();  // at once, not as a failure
  EXPECT_TRUE(plain.plaintext);
  EXPECT_EQ(h.scheduler->stats().connection_failures, 0u);
  h.Ready(plain.connection);
  h.Take<SendMessage>();
  h.Sent(plain.connection, {Reply(250)});
  h.WriteAllResults();
  h.Ready(plain.connection);
  h.Advance(absl::Minutes(61));
  h.Closed(h.Take<CloseConnection>().connection);
  h.Accept(h.Job("dest.example", {"b"}));
  h.TakeAll<ResolveRoute>();
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  EXPECT_FALSE(h.Take<OpenConnection>().plaintext);  // an hour later, TLS is tried again
}

TEST(DeliverySchedulerTest, AConnectionOurOwnTableRefusedIsRetriedInASecondWithoutBlame) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  h.Closed(h.Take<OpenConnection>().connection, "no free connection slot", /*local=*/true);
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  EXPECT_EQ(h.scheduler->stats().connection_failures, 0u);
  EXPECT_EQ(h.Count<WriteResults>(), 0u);  // the job waits, undeferred
  h.Advance(absl::Milliseconds(1100));
  EXPECT_EQ(h.TakeAll<OpenConnection>().size(), 1u);
}

TEST(DeliverySchedulerTest, ALostReplyAfterTheFinalDotIsDeferredAndFlaggedAsAPossibleDuplicate) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {AttemptReply{0, "", "connection lost after the final dot", true}});
  const std::string accounting = h.AccountingText();
  EXPECT_TRUE(absl::StrContains(accounting, "\"possible_duplicate\":true")) << accounting;
  EXPECT_TRUE(absl::StrContains(accounting, "\"type\":\"transient\"")) << accounting;
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDeferred);
  EXPECT_EQ(h.scheduler->stats().possible_duplicates, 1u);
}

TEST(DeliverySchedulerTest, StoppingQuitsReadyConnectionsAndOpensNoNewOnes) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  h.Take<ResolveRoute>();
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(250)});
  h.WriteAllResults();
  h.Ready(c);
  h.Stop();
  EXPECT_EQ(h.Take<CloseConnection>().connection, c);
  h.Accept(h.Job("other.example", {"b"}));
  EXPECT_EQ(h.Count<ResolveRoute>() + h.Count<OpenConnection>(), 0u);
}

TEST(DeliverySchedulerTest, ADnsAnswerIsAskedForAgainOnceItsValidityPassed) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.idle_timeout = absl::Minutes(10);  // keeps the domain (its connection) alive
  SchedulerHarness h(config);
  h.Accept(h.Job("dest.example", {"a"}));
  h.Take<ResolveRoute>();
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}, absl::Minutes(1)));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(250)});
  h.WriteAllResults();
  h.Ready(c);
  h.Accept(h.Job("dest.example", {"b"}));  // within the minute: the known route
  EXPECT_EQ(h.Count<ResolveRoute>(), 0u);
  h.Sent(h.Take<SendMessage>().connection, {Reply(250)});
  h.WriteAllResults();
  h.Ready(c);
  h.Advance(absl::Minutes(2));
  h.Accept(h.Job("dest.example", {"c"}));
  EXPECT_EQ(h.TakeAll<ResolveRoute>().size(), 1u);
}

TEST(DeliverySchedulerTest, AnUnreadableBodyDefersItsJobAndTheConnectionTakesTheNext) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.domain_max_connections = 1;
  SchedulerHarness h(config);
  h.Accept(h.Job("dest.example", {"a"}));
  h.Accept(h.Job("dest.example", {"b"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  EXPECT_EQ(h.Take<SendMessage>().recipients, Addresses("dest.example", {"a"}));
  h.NotSent(c, "cannot read the queued message: DATA_LOSS");
  EXPECT_EQ(h.Take<SendMessage>().recipients, Addresses("dest.example", {"b"}));
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDeferred);
  EXPECT_TRUE(absl::StrContains(h.results[0].text, "DATA_LOSS"));
}

TEST(DeliverySchedulerTest, AVerifiedNameOfAHandedOverConnectionIsNotClaimedForAnotherDomain) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.host_max_connections = 1;
  SchedulerHarness h(config);
  h.Accept(h.Job("a.example", {"x"}));
  h.Accept(h.Job("b.example", {"y"}));
  NextHop a = SmtpHop({"192.0.2.1:25"});
  a.names = {"mx.a.example"};
  NextHop b = SmtpHop({"192.0.2.1:25"});
  b.names = {"mx.b.example"};
  h.Resolved("a.example", a);
  h.Resolved("b.example", b);
  const OpenConnection open = h.Take<OpenConnection>();
  EXPECT_EQ(open.name, "mx.a.example");
  h.Ready(open.connection);
  h.Take<SendMessage>();
  const TlsReport verified{"TLSv1.3 TLS_AES_128_GCM_SHA256", "mx.a.example", true};
  h.Sent(open.connection, {Reply(250)}, verified);
  EXPECT_TRUE(absl::StrContains(h.AccountingText(), "\"tls_verified\":true"));
  h.Ready(open.connection);  // handed over to b.example
  h.Take<SendMessage>();
  h.Sent(open.connection, {Reply(250)}, verified);
  EXPECT_TRUE(absl::StrContains(h.AccountingText(), "\"tls_verified\":false"));
}

}  // namespace
}  // namespace ringpost::queue
