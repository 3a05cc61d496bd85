// Egress pools in the delivery scheduler, with a fake clock: a pool's jobs take its
// sources by weight, each source × destination is a queue of its own with its own
// connections (never handed to another source's), a reply-driven suspension holds one
// source's queue while the others go on, and an operator's suspension holds them all.
#include <sys/socket.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "gtest/gtest.h"
#include "queue/schedule/delivery_scheduler.h"
#include "tests/queue/fake_destination.h"
#include "tests/queue/scheduler_harness.h"

namespace ringpost::queue {
namespace {

using testing::FakeDestination;
using testing::Reply;
using testing::SchedulerHarness;
using testing::SmtpHop;

SchedulerConfig PooledConfig() {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  absl::StatusOr<EgressPools> pools = EgressPools::Parse("bulk=a:3+b:1,solo=b", {"a", "b"});
  EXPECT_TRUE(pools.ok()) << pools.status();
  config.egress_pools = std::make_shared<const EgressPools>(*std::move(pools));
  return config;
}

std::unique_ptr<DeliveryJob> PooledJob(SchedulerHarness& h, const std::string& pool,
                                       const std::string& rcpt) {
  std::unique_ptr<DeliveryJob> job = h.Job("dest.example", {rcpt});
  job->message->pool = pool;  // as reception chose it
  return job;
}

// dest.example at one address; Settle answers until the scheduler is quiet.
struct Network : FakeDestination {
  explicit Network(SchedulerHarness& harness) : FakeDestination(harness) {
    routes["dest.example"] = SmtpHop({"192.0.2.1:25"});
  }
  void Settle() { RunFor(absl::ZeroDuration()); }
};

TEST(EgressSchedulerTest, APoolsJobsTakeItsSourcesByWeightEachWithItsOwnQueueAndConnections) {
  SchedulerHarness h(PooledConfig());
  for (int i = 0; i < 8; ++i) h.Accept(PooledJob(h, "bulk", absl::StrCat("r", i)));
  for (int i = 0; i < 2; ++i) h.Accept(PooledJob(h, "", absl::StrCat("plain", i)));
  h.Accept(PooledJob(h, "gone", "old"));  // a pool no longer configured: the default source
  Network net(h);
  net.Settle();
  EXPECT_EQ(net.SentFrom("a"), 6);  // 3:1 over 8 jobs
  EXPECT_EQ(net.SentFrom("b"), 2);
  EXPECT_EQ(net.SentFrom(""), 3);
  std::sort(net.resolved.begin(), net.resolved.end());
  EXPECT_EQ(net.resolved, (std::vector<std::string>{"dest.example", "dest.example/a", "dest.example/b"}));
  // Each connection carried one source's mail only.
  EXPECT_EQ(h.scheduler->stats().connections_handed_over, 0u);
}

TEST(EgressSchedulerTest, SmoothWeightedRoundRobinInterleavesTheSources) {
  absl::StatusOr<EgressPools> pools = EgressPools::Parse("bulk=a:3+b:1", {"a", "b"});
  ASSERT_TRUE(pools.ok());
  SourcePicker picker;
  std::string picks;
  for (int i = 0; i < 8; ++i) picks += picker.Pick(*pools, "bulk");
  EXPECT_EQ(picks, "aabaaaba");  // nginx's order: b in the middle of each round of 4
  EXPECT_EQ(picker.Pick(*pools, "unknown"), "");
  EXPECT_EQ(picker.Pick(*pools, ""), "");
}

TEST(EgressSchedulerTest, AThrottlingReplyToOneSourceSuspendsThatSourceOnly) {
  // Gmail's 421 4.7.28 is about the sending address (the built-in rule suspends).
  SchedulerHarness h(PooledConfig());
  Network net(h);
  net.reply = [](const std::string&, const std::string& source) {
    return source == "a" ? Reply(421, "4.7.28", "4.7.28 rate limited") : Reply(250);
  };
  for (int i = 0; i < 4; ++i) h.Accept(PooledJob(h, "bulk", absl::StrCat("r", i)));
  net.Settle();
  const std::vector<Suspension> suspended = h.scheduler->Suspensions(h.now);
  ASSERT_EQ(suspended.size(), 1u);
  EXPECT_EQ(suspended[0].domain, "dest.example");
  EXPECT_EQ(suspended[0].source, "a");
  EXPECT_NE(suspended[0].reason.find("gmail-rate-limited"), std::string::npos) << suspended[0].reason;

  // Mail from b still goes; a's waits out the suspension.
  net.reply = [](const std::string&, const std::string&) { return Reply(250); };
  net.sent.clear();
  for (int i = 0; i < 4; ++i) h.Accept(PooledJob(h, "solo", absl::StrCat("s", i)));
  for (int i = 0; i < 4; ++i) h.Accept(PooledJob(h, "bulk", absl::StrCat("t", i)));
  net.Settle();
  EXPECT_EQ(net.SentFrom("a"), 0);
  EXPECT_EQ(net.SentFrom("b"), 5);  // the 4 of "solo" and one of the 4 new "bulk" ones

  // The summary shows the two queues apart; resuming the domain resumes its sources.
  bool a_shown = false;
  for (const DomainSummary& d : h.scheduler->Summary(10, h.now)) {
    if (d.source == "a") {
      a_shown = true;
      EXPECT_GT(d.suspended_until, h.now);
    }
  }
  EXPECT_TRUE(a_shown);
  EXPECT_TRUE(h.Resume("dest.example"));
  for (int second = 0; second < 60; ++second) {  // the ramp starts at 1/s
    h.Advance(absl::Seconds(1));
    net.Settle();
  }
  // a's three new ones (its first three went out at once on three connections, got
  // the 421 and wait for their retry).
  EXPECT_EQ(net.SentFrom("a"), 3);
  EXPECT_TRUE(h.scheduler->Suspensions(h.now).empty());
}

TEST(EgressSchedulerTest, ARuleForEverySourceSuspendsTheDestinationFromAllOfThem) {
  SchedulerConfig config = PooledConfig();
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(R"(
[[automation]]
name = "domain-wide"
code = 421
text = "too much mail for this domain"
every_source = true
action = "suspend"
duration = "10m"
)",
                                                              "shaping.toml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  config.shaping = std::make_shared<const ShapingPolicy>(*std::move(policy));
  SchedulerHarness h(config);
  Network net(h);
  // b's queue exists (it delivered) when a's connection gets the reply.
  h.Accept(PooledJob(h, "solo", "first"));
  net.Settle();
  ASSERT_EQ(net.SentFrom("b"), 1);
  net.reply = [](const std::string&, const std::string& source) {
    return source == "a" ? Reply(421, "4.7.0", "4.7.0 too much mail for this domain") : Reply(250);
  };
  h.Accept(PooledJob(h, "bulk", "r0"));  // the first pick: a
  net.Settle();
  std::vector<std::string> suspended;
  for (const Suspension& s : h.scheduler->Suspensions(h.now)) suspended.push_back(s.source);
  std::sort(suspended.begin(), suspended.end());
  EXPECT_EQ(suspended, (std::vector<std::string>{"a", "b"}));
  net.sent.clear();
  h.Accept(PooledJob(h, "solo", "second"));
  net.Settle();
  EXPECT_EQ(net.SentFrom("b"), 0);  // held too
}

TEST(EgressSchedulerTest, AnOperatorsSuspensionOfADomainHoldsEverySource) {
  SchedulerHarness h(PooledConfig());
  Network net(h);
  h.Suspend("dest.example", absl::Minutes(10));
  for (int i = 0; i < 4; ++i) h.Accept(PooledJob(h, "bulk", absl::StrCat("r", i)));
  h.Accept(PooledJob(h, "", "plain"));
  net.Settle();
  EXPECT_TRUE(net.sent.empty());
  EXPECT_TRUE(net.resolved.empty());  // not even a route asked for
  h.Advance(absl::Minutes(11));
  net.Settle();
  EXPECT_EQ(net.SentFrom("a"), 3);
  EXPECT_EQ(net.SentFrom("b"), 1);
  EXPECT_EQ(net.SentFrom(""), 1);
}

TEST(EgressSchedulerTest, ASourceScopeInTheShapingFileShapesThatSourcesQueue) {
  SchedulerConfig config = PooledConfig();
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(R"(
[destination."dest.example".source."b"]
max_message_rate = 0
)",
                                                              "shaping.toml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  config.shaping = std::make_shared<const ShapingPolicy>(*std::move(policy));
  SchedulerHarness h(config);
  Network net(h);
  for (int i = 0; i < 8; ++i) h.Accept(PooledJob(h, "bulk", absl::StrCat("r", i)));
  net.Settle();
  h.Advance(absl::Seconds(5));
  net.Settle();
  EXPECT_EQ(net.SentFrom("a"), 6);
  EXPECT_EQ(net.SentFrom("b"), 0);  // b's rate to dest.example is 0: held
}

TEST(EgressSchedulerTest, ASourceQueueUsesOnlyTheNextHopsAddressesOfItsSourcesFamily) {
  SchedulerConfig config = PooledConfig();
  config.source_families = {{"a", AF_INET6}, {"b", AF_INET}};
  SchedulerHarness h(config);
  h.Accept(PooledJob(h, "solo", "r0"));  // b: IPv4
  h.Accept(PooledJob(h, "bulk", "r1"));  // a (the first pick): IPv6
  for (const ResolveRoute& r : h.TakeAll<ResolveRoute>()) {
    h.Resolved(r.queue, SmtpHop({"[2001:db8::1]:25", "192.0.2.1:25", "[2001:db8::2]:25"}));
  }
  std::map<std::string, std::vector<std::string>> opened;  // by source
  for (const OpenConnection& open : h.TakeAll<OpenConnection>()) {
    opened[open.source].push_back(open.address.ToString());
  }
  EXPECT_EQ(opened["a"], (std::vector<std::string>{"[2001:db8::1]:25"}));
  EXPECT_EQ(opened["b"], (std::vector<std::string>{"192.0.2.1:25"}));
}

TEST(EgressSchedulerTest, ANextHopWithoutAnAddressOfTheSourcesFamilyDefersItsMail) {
  SchedulerConfig config = PooledConfig();
  config.source_families = {{"a", AF_INET6}, {"b", AF_INET}};
  SchedulerHarness h(config);
  Network net(h);                        // dest.example has an IPv4 address only
  h.Accept(PooledJob(h, "bulk", "r0"));  // a: IPv6
  h.Accept(PooledJob(h, "solo", "r1"));  // b: IPv4
  net.Settle();
  EXPECT_EQ(net.SentFrom("a"), 0);
  EXPECT_EQ(net.SentFrom("b"), 1);
  EXPECT_NE(net.accounting.find("no address for dest.example of the family of source a"), std::string::npos)
      << net.accounting;
  EXPECT_NE(net.accounting.find("\"status\":\"4.4.4\""), std::string::npos) << net.accounting;
}

TEST(EgressSchedulerTest, ABounceRuleBouncesTheQueueOfTheSourceThatGotTheReplyOnly) {
  SchedulerConfig config = PooledConfig();
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(R"(
[[automation]]
name = "address-listed"
code = 421
text = "your address is listed"
action = "bounce"
)",
                                                              "shaping.toml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  config.shaping = std::make_shared<const ShapingPolicy>(*std::move(policy));
  SchedulerHarness h(config);
  Network net(h);
  net.reply = [](const std::string&, const std::string& source) {
    return source == "a" ? Reply(421, "4.7.1", "4.7.1 your address is listed")
                         : Reply(451, "4.3.0", "4.3.0 later");
  };
  for (int i = 0; i < 8; ++i) h.Accept(PooledJob(h, "bulk", absl::StrCat("r", i)));
  net.Settle();
  JobFilter from_a, from_b;
  from_a.domain = from_b.domain = "dest.example";
  from_a.source = "a";
  from_b.source = "b";
  EXPECT_TRUE(h.scheduler->List(from_a, 0, 100, h.now).empty());   // bounced
  EXPECT_EQ(h.scheduler->List(from_b, 0, 100, h.now).size(), 2u);  // deferred, still queued
  EXPECT_NE(net.accounting.find("rule address-listed"), std::string::npos) << net.accounting;
}

}  // namespace
}  // namespace ringpost::queue
