// The delivery scheduler's live queue control (suspend, hold, delete, bounce, flush,
// the views), one test each, with a fake clock: no sockets, no disk, no waiting
// (tests/queue/scheduler_harness.h).
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

JobFilter ById(const std::string& queue_id) {
  JobFilter filter;
  filter.queue_id = queue_id;
  return filter;
}

JobFilter ByDomain(const std::string& domain) {
  JobFilter filter;
  filter.domain = domain;
  return filter;
}

TEST(DeliverySchedulerAdminTest, ASuspendedDomainGetsNoAttemptUntilResumedAndTheOrderIsWritten) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  h.Take<ResolveRoute>();
  h.Suspend("dest.example", absl::Hours(1));
  const WriteControl order = h.Take<WriteControl>();
  EXPECT_EQ(order.record.kind, ControlRecord::Kind::kSuspend);
  EXPECT_EQ(order.record.domain, "dest.example");
  EXPECT_EQ(order.record.until_unix_micros,
            static_cast<uint64_t>(absl::ToUnixMicros(h.now + absl::Hours(1))));
  EXPECT_EQ(order.record.reason, "testing");
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  h.Advance(absl::Minutes(30));
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  ASSERT_EQ(h.scheduler->Suspensions(h.now).size(), 1u);
  EXPECT_TRUE(h.Resume("dest.example"));
  EXPECT_EQ(h.Take<WriteControl>().record.kind, ControlRecord::Kind::kResume);
  EXPECT_EQ(h.Count<OpenConnection>(), 1u);
  EXPECT_FALSE(h.Resume("dest.example"));  // not suspended any more
  EXPECT_TRUE(h.scheduler->Suspensions(h.now).empty());
}

TEST(DeliverySchedulerAdminTest, ASuspensionLapsesByItselfAndAReadyConnectionTakesNothingMeanwhile) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.idle_timeout = absl::Hours(1);
  SchedulerHarness h(config);
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(250)});
  h.WriteAllResults();
  h.Suspend("dest.example", absl::Minutes(10));
  h.Accept(h.Job("dest.example", {"b"}));
  h.Ready(c);  // the connection at work finished its message: it takes no new one
  EXPECT_EQ(h.Count<SendMessage>(), 0u);
  h.Advance(absl::Minutes(9));
  EXPECT_EQ(h.Count<SendMessage>(), 0u);
  h.Advance(absl::Minutes(2));
  EXPECT_EQ(h.Count<SendMessage>() + h.Count<OpenConnection>(), 1u);
}

TEST(DeliverySchedulerAdminTest, AStandingOrderIsCarriedAndRestoredAfterARestart) {
  SchedulerHarness h;
  h.Suspend("dest.example", absl::Hours(2));
  const std::vector<ControlRecord> orders = h.scheduler->StandingOrders(h.now);
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0].domain, "dest.example");
  SchedulerHarness after;  // a new run: the order comes back from the log
  after.now = h.now + absl::Hours(1);
  after.scheduler->Restore(orders[0], after.now);
  after.Accept(after.Job("dest.example", {"a"}));
  EXPECT_TRUE(after.actions.empty());  // not even a lookup while suspended
  after.Advance(absl::Minutes(59));
  EXPECT_TRUE(after.actions.empty());
  after.Advance(absl::Minutes(2));
  after.Take<ResolveRoute>();
  after.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  EXPECT_EQ(after.Count<OpenConnection>(), 1u);
  EXPECT_TRUE(after.scheduler->StandingOrders(after.now).empty());  // lapsed: nothing to carry
}

TEST(DeliverySchedulerAdminTest, AHeldMessageIsNotAttemptedUntilReleased) {
  SchedulerHarness h;
  std::unique_ptr<DeliveryJob> job = h.Job("dest.example", {"a", "b"});
  job->message->home_shard = 1;
  h.Accept(std::move(job));
  h.Accept(h.Job("dest.example", {"c"}));
  EXPECT_EQ(h.Apply(AdminCommand::kHold, ById("Q1")), 1u);
  const WriteResults held = h.Take<WriteResults>();
  EXPECT_EQ(held.batch, 0u);  // nothing waits for it
  EXPECT_EQ(held.home_shard, 1);  // in the message's own log, as every result
  ASSERT_EQ(held.results.size(), 2u);
  EXPECT_EQ(held.results[0].outcome, Outcome::kHeld);
  h.Take<ResolveRoute>();
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  EXPECT_EQ(h.Take<SendMessage>().message->queue_id, "Q2");
  h.Sent(c, {Reply(250)});
  h.WriteAllResults();
  h.Ready(c);
  EXPECT_EQ(h.Count<SendMessage>(), 0u);
  const std::vector<DomainSummary> summary = h.scheduler->Summary(10, h.now);
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(summary[0].held, 2u);
  EXPECT_EQ(h.Apply(AdminCommand::kRelease, ByDomain("dest.example")), 1u);
  EXPECT_EQ(h.Take<WriteResults>().results[0].outcome, Outcome::kReleased);
  EXPECT_EQ(h.Take<SendMessage>().message->queue_id, "Q1");
}

TEST(DeliverySchedulerAdminTest, DeleteEndsTheMessageWithoutADsn) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  EXPECT_EQ(h.Apply(AdminCommand::kDelete, ById("Q1")), 1u);
  EXPECT_EQ(h.Count<WriteBounce>(), 0u);
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDeleted);
  EXPECT_EQ(h.Take<JobFinished>().message->queue_id, "Q1");
  EXPECT_EQ(h.scheduler->jobs(), 0u);
  EXPECT_EQ(h.AccountingText(), "");  // the admin record counts deletes, not the scheduler
}

TEST(DeliverySchedulerAdminTest, Rfc3464_BounceSendsTheSenderADsnWith5_0_0BeforeTheRecords) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  EXPECT_EQ(h.Apply(AdminCommand::kBounce, ById("Q1"), "policy"), 1u);
  EXPECT_EQ(h.Count<WriteResults>(), 0u);  // the DSN first
  const WriteBounce bounce = h.Take<WriteBounce>();
  ASSERT_EQ(bounce.recipients.size(), 1u);
  EXPECT_EQ(bounce.recipients[0].status, "5.0.0");
  EXPECT_EQ(bounce.recipients[0].reason, "returned by the operator: policy");
  const std::string accounting = h.AccountingText();
  EXPECT_TRUE(absl::StrContains(accounting, "\"type\":\"bounce\"")) << accounting;
  EXPECT_TRUE(absl::StrContains(accounting, "\"by_operator\":true")) << accounting;
  h.BounceWritten(bounce.batch, true);
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kBounced);
  EXPECT_EQ(h.Count<JobFinished>(), 1u);
}

TEST(DeliverySchedulerAdminTest, AnOperatorsBounceThatCannotBeWrittenLeavesTheAttemptCountAsItWas) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));  // never tried: no attempt yet
  EXPECT_EQ(h.Apply(AdminCommand::kBounce, ById("Q1"), "policy"), 1u);
  h.BounceWritten(h.Take<WriteBounce>().batch, false);  // the spool is full
  EXPECT_EQ(h.WriteAllResults(), 0);
  h.TakeAll<ResolveRoute>();
  h.Advance(absl::Minutes(6));  // tried again after retry.initial
  h.TakeAll<ResolveRoute>();
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(451, "4.3.0")});
  h.WriteAllResults();
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDeferred);
  EXPECT_EQ(h.results[0].attempt, 1u);  // the first real attempt, not a count that wrapped
}

TEST(DeliverySchedulerAdminTest, ACommandForAMessageInAnAttemptRunsOnceTheAttemptIsOver) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a", "b"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  EXPECT_EQ(h.Apply(AdminCommand::kDelete, ById("Q1")), 1u);
  EXPECT_EQ(h.Count<WriteResults>(), 0u);  // in flight: it waits
  h.Sent(c, {Reply(250), Reply(451, "4.3.0")});
  h.WriteAllResults();  // the attempt's records, then the delete's for what is left
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_EQ(h.results[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(h.results[1].outcome, Outcome::kDeferred);
  EXPECT_EQ(h.results[2].outcome, Outcome::kDeleted);
  EXPECT_EQ(h.results[2].recipient_index, 1u);
  EXPECT_EQ(h.scheduler->jobs(), 0u);
}

TEST(DeliverySchedulerAdminTest, FlushMakesDeferredJobsDueAtOnceSpreadOverAtMostAMinute) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.idle_timeout = absl::Hours(1);
  SchedulerHarness h(config);
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const ConnectionId c = OpenAndGreet(h);
  h.Take<SendMessage>();
  h.Sent(c, {Reply(451, "4.3.0")});
  h.WriteAllResults();  // next attempt in about 5 minutes
  h.Ready(c);
  EXPECT_EQ(h.Flush(ByDomain("other.example")), 0u);
  EXPECT_EQ(h.Flush(JobFilter{}), 1u);
  h.Advance(absl::Milliseconds(2));  // one job: spread over a millisecond
  EXPECT_EQ(h.Take<SendMessage>().message->queue_id, "Q1");
  EXPECT_EQ(h.Flush(JobFilter{}), 0u);  // nothing deferred now
}

TEST(DeliverySchedulerAdminTest, FlushEndsTheRestOfADomainWhoseHostsAllFailed) {
  SchedulerHarness h;
  h.Accept(h.Job("dest.example", {"a"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  h.Closed(h.Take<OpenConnection>().connection, "connection refused");
  h.WriteAllResults();                     // deferred; the domain rests about 5 minutes
  h.Accept(h.Job("dest.example", {"b"}));  // due now, but the domain rests
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);
  EXPECT_EQ(h.Flush(ByDomain("dest.example")), 2u);
  h.Advance(absl::Milliseconds(5));
  EXPECT_EQ(h.TakeAll<OpenConnection>().size(), 2u);  // at once (one per due job), not in 5 minutes
}

TEST(DeliverySchedulerAdminTest, SummaryIsDeepestFirstAndListingsPageInArrivalOrder) {
  SchedulerHarness h;
  const absl::Time early = h.now - absl::Hours(3);
  h.Accept(h.Job("small.example", {"a"}));
  h.Accept(h.Job("big.example", {"a", "b"}, "x@y", early));
  h.Accept(h.Job("big.example", {"c"}));
  const std::vector<DomainSummary> top = h.scheduler->Summary(1, h.now);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].domain, "big.example");
  EXPECT_EQ(top[0].recipients, 3u);
  EXPECT_EQ(top[0].jobs, 2u);
  EXPECT_EQ(top[0].oldest, early);
  const std::vector<JobView> first = h.scheduler->List(JobFilter{}, 0, 2, h.now);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].message->queue_id, "Q1");
  EXPECT_EQ(first[1].message->queue_id, "Q2");
  const std::vector<JobView> rest = h.scheduler->List(JobFilter{}, first[1].id, 2, h.now);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].message->queue_id, "Q3");
  JobFilter old;
  old.older_than = absl::Hours(1);
  ASSERT_EQ(h.scheduler->List(old, 0, 10, h.now).size(), 1u);
  JobFilter by_sender;
  by_sender.sender = "X@Y";
  EXPECT_EQ(h.scheduler->List(by_sender, 0, 10, h.now).size(), 1u);
}

}  // namespace
}  // namespace ringpost::queue
