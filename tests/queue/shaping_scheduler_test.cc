// Traffic shaping in the delivery scheduler, with a fake clock and a fake destination
// that answers at once: rates kept exactly, a site's budget shared out between shards,
// the per-destination settings, and the reply-driven rules (thresholds, suspension and
// the ramp back up, set_rate, bounce, temporary) with their accounting lines.
#include <map>

#include "absl/strings/match.h"
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

std::shared_ptr<const ShapingPolicy> Policy(const std::string& text) {
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(text, "shaping.toml");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return std::make_shared<const ShapingPolicy>(policy.ok() ? *std::move(policy) : ShapingPolicy());
}

NextHop SiteHop(const std::string& address, const std::string& mx_name) {
  NextHop hop = SmtpHop({address});
  hop.names = {mx_name};
  return hop;
}

TEST(ShapingSchedulerTest, MessageRateHoldsExactlyOverAMinute) {
  for (const char* rate : {"100/s", "1000/s"}) {
    SchedulerConfig config = SchedulerHarness::DefaultConfig();
    config.shaping =
        Policy(absl::StrCat("[destination.\"dest.example\"]\nmax_message_rate = \"", rate, "\"\n"));
    SchedulerHarness h(config);
    for (int i = 0; i < 70000; ++i) h.Accept(h.Job("dest.example", {"a"}));
    FakeDestination dest(h);
    dest.routes["dest.example"] = SmtpHop({"192.0.2.1:25"});
    const absl::Time start = h.now;
    dest.RunFor(absl::Seconds(60));
    const double expected = 60.0 / absl::ToDoubleSeconds(Rate::Parse(rate)->interval());
    const int sent = dest.SentTo("dest.example", start, h.now);
    // Exact but for one burst at the start (50 ms worth).
    EXPECT_GE(sent, expected * 0.999) << rate;
    EXPECT_LE(sent, expected * 1.001 + expected / 1200 + 2) << rate;
    EXPECT_GT(h.scheduler->stats().shaping_waits, 0u);
  }
}

TEST(ShapingSchedulerTest, ASitesBudgetIsSharedOutBetweenShardsAndOtherDomainsAreNotHeldUp) {
  int total = 0;
  for (uint32_t shard = 0; shard < 2; ++shard) {
    SchedulerConfig config = SchedulerHarness::DefaultConfig();
    config.shaping = Policy(R"(
[destination."mx:*.mail.example"]
max_message_rate = "20/s"
connection_limit = 3
)");
    config.shard = shard;
    config.shards = 2;
    SchedulerHarness h(config);
    FakeDestination dest(h);
    // Two domains behind the site's MX on this shard, and one elsewhere.
    for (const char* domain : {"one.example", "two.example"}) {
      dest.routes[domain] = SiteHop(absl::StrCat("192.0.2.", shard + 1, ":25"), "mx1.mail.example");
      for (int i = 0; i < 500; ++i) h.Accept(h.Job(domain, {"a"}));
    }
    dest.routes["free.example"] = SmtpHop({"198.51.100.1:25"});
    for (int i = 0; i < 500; ++i) h.Accept(h.Job("free.example", {"a"}));
    const absl::Time start = h.now;
    dest.RunFor(absl::Seconds(10));
    const int site = dest.SentTo("one.example", start, h.now) + dest.SentTo("two.example", start, h.now);
    // This shard's share: 10/s for both domains together.
    EXPECT_GE(site, 100) << "shard " << shard;
    EXPECT_LE(site, 102) << "shard " << shard;
    total += site;
    EXPECT_EQ(dest.SentTo("free.example", start, h.now), 500);  // at once, unshaped
  }
  EXPECT_LE(total, 204);  // the shards together never pass 20/s (and their bursts)
}

TEST(ShapingSchedulerTest, ARulesActionOnASiteReachesEveryShardsShare) {
  const std::string policy = R"(
[destination."mx:*.mail.example"]
max_message_rate = "100/s"

[[automation]]
name = "slow-down"
code = 421
text = "slow down"
action = "set_rate"
rate = "10/s"
duration = "1m"
)";
  // Shard 0 gets the reply: its share of the site slows to 5/s, and it says so.
  SchedulerConfig config0 = SchedulerHarness::DefaultConfig();
  config0.shaping = Policy(policy);
  config0.shard = 0;
  config0.shards = 2;
  SchedulerHarness h0(config0);
  FakeDestination dest0(h0);
  dest0.routes["one.example"] = SiteHop("192.0.2.1:25", "mx1.mail.example");
  dest0.reply = [](const std::string&, const std::string&) { return Reply(421, "4.7.0", "4.7.0 slow down"); };
  h0.Accept(h0.Job("one.example", {"a"}));
  dest0.RunFor(absl::Milliseconds(10));
  const std::vector<SiteActed> acted = h0.TakeAll<SiteActed>();
  ASSERT_EQ(acted.size(), 1u);
  EXPECT_EQ(acted[0].site, "mx:*.mail.example");
  EXPECT_EQ(acted[0].rule.name, "slow-down");
  EXPECT_EQ(acted[0].until, h0.now - absl::Milliseconds(10) + absl::Minutes(1));

  // Shard 1 hears it before its own mail to the site: its share is 5/s, not 50/s.
  SchedulerConfig config1 = config0;
  config1.shard = 1;
  SchedulerHarness h1(config1);
  h1.scheduler->OnSiteActed(acted[0], h1.now);
  FakeDestination dest1(h1);
  dest1.routes["two.example"] = SiteHop("192.0.2.2:25", "mx2.mail.example");
  for (int i = 0; i < 500; ++i) h1.Accept(h1.Job("two.example", {"a"}));
  const absl::Time start = h1.now;
  dest1.RunFor(absl::Seconds(10));
  const int sent = dest1.SentTo("two.example", start, h1.now);
  EXPECT_GE(sent, 49);
  EXPECT_LE(sent, 52);                           // 5/s for 10 s, and the burst of one
  EXPECT_TRUE(h1.TakeAll<SiteActed>().empty());  // heard, not said again
}

TEST(ShapingSchedulerTest, ASitesConnectionLimitIsSharedOutBetweenShards) {
  for (uint32_t shard = 0; shard < 2; ++shard) {
    SchedulerConfig config = SchedulerHarness::DefaultConfig();
    config.shaping = Policy("[destination.\"mx:*.mail.example\"]\nconnection_limit = 3\n");
    config.shard = shard;
    config.shards = 2;
    SchedulerHarness h(config);
    for (const char* domain : {"one.example", "two.example"}) {
      for (int i = 0; i < 10; ++i) h.Accept(h.Job(domain, {"a"}));
    }
    h.Resolved("one.example", SiteHop("192.0.2.1:25", "mx1.mail.example"));
    h.Resolved("two.example", SiteHop("192.0.2.2:25", "mx2.mail.example"));
    // Three over two shards: two here on shard 0, one on shard 1, for both domains.
    EXPECT_EQ(h.TakeAll<OpenConnection>().size(), shard == 0 ? 2u : 1u) << "shard " << shard;
  }
}

TEST(ShapingSchedulerTest, DestinationSettingsOverTheFlags) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.shaping = Policy(R"(
[default]
max_deliveries_per_connection = 2

[destination."dest.example"]
max_recipients_per_transaction = 2
tls = "required"
retry_initial = "1m"
)");
  config.tls_fallback = absl::Hours(1);
  SchedulerHarness h(config);
  h.Accept(h.Job("dest.example", {"a", "b", "c", "d", "e"}));
  h.Resolved("dest.example", SmtpHop({"192.0.2.1:25"}));
  const OpenConnection open = h.Take<OpenConnection>();
  EXPECT_EQ(open.tls, TlsMode::kRequired);
  h.Ready(open.connection);
  // Two recipients per transaction; the rest go in the next one at once.
  EXPECT_EQ(h.Take<SendMessage>().recipients.size(), 2u);
  h.Sent(open.connection, {Reply(250), Reply(451, "4.3.0")});
  h.WriteAllResults();
  h.Ready(open.connection);
  EXPECT_EQ(h.Take<SendMessage>().recipients.size(), 2u);
  h.Sent(open.connection, {Reply(250), Reply(250)});
  h.WriteAllResults();
  // Two deliveries per connection ([default]); the flag said 100.
  h.Ready(open.connection);
  EXPECT_EQ(h.Take<CloseConnection>().connection, open.connection);
  // The deferred recipient's retry comes after the domain's retry_initial (1m +-10%).
  ASSERT_GE(h.results.size(), 2u);
  const DeliveryResult& deferred = h.results[1];
  EXPECT_EQ(deferred.outcome, Outcome::kDeferred);
  const absl::Duration wait =
      absl::FromUnixMicros(static_cast<int64_t>(deferred.next_attempt_unix_micros)) - h.now;
  EXPECT_GE(wait, absl::Seconds(53));
  EXPECT_LE(wait, absl::Seconds(67));
  // A failed handshake never makes a destination requiring TLS plaintext.
  h.Closed(open.connection, "QUIT");
  const OpenConnection again = h.Take<OpenConnection>();
  h.TlsFailed(again.connection);
  h.Closed(again.connection, "TLS handshake failed");
  h.Advance(absl::Minutes(10));
  const std::vector<OpenConnection> later = h.TakeAll<OpenConnection>();
  ASSERT_FALSE(later.empty());
  EXPECT_FALSE(later.back().plaintext);
}

TEST(ShapingSchedulerTest, ThrottlingReplySuspendsTheDestinationThenItRampsUp) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.shaping = Policy(R"(
builtin_automation = false

[[automation]]
name = "rate-limited"
code = 421
enhanced = "4.7.28"
text = "rate limited"
threshold = 2
within = "1m"
action = "suspend"
duration = "10s"
ramp_from = "2/s"
ramp_interval = "2s"
ramp_to = "8/s"
)");
  config.domain_max_connections = 1;  // one reply at a time
  SchedulerHarness h(config);
  FakeDestination dest(h);
  dest.routes["throttled.example"] = SmtpHop({"192.0.2.1:25"});
  dest.routes["other.example"] = SmtpHop({"192.0.2.2:25"});
  bool throttling = true;
  dest.reply = [&](const std::string& domain, const std::string&) {
    if (domain == "throttled.example" && throttling) {
      return Reply(421, "4.7.28", "Our system has detected an unusual rate; you are rate limited");
    }
    return Reply(250);
  };
  for (int i = 0; i < 200; ++i) h.Accept(h.Job("throttled.example", {"a"}));
  const absl::Time start = h.now;
  dest.RunFor(absl::Milliseconds(5));
  // The second 421 within a minute suspends it: two attempts, then nothing.
  EXPECT_EQ(dest.SentTo("throttled.example", start, h.now), 2);
  const std::string accounting = dest.accounting;
  EXPECT_TRUE(absl::StrContains(accounting, "\"type\":\"shaping\",")) << accounting;
  EXPECT_TRUE(absl::StrContains(accounting,
                                "\"action\":\"suspend\",\"rule\":\"rate-limited\","
                                "\"destination\":\"throttled.example\""))
      << accounting;
  EXPECT_TRUE(absl::StrContains(accounting, "\"ramp_from\":\"2/s\"")) << accounting;
  EXPECT_EQ(h.scheduler->stats().shaping_actions[static_cast<size_t>(AutomationAction::kSuspend)], 1u);
  const std::vector<Suspension> suspensions = h.scheduler->Suspensions(h.now);
  ASSERT_EQ(suspensions.size(), 1u);
  EXPECT_TRUE(absl::StrContains(suspensions[0].reason, "rule rate-limited: 421 4.7.28"))
      << suspensions[0].reason;

  // Other destinations go on meanwhile.
  throttling = false;
  for (int i = 0; i < 20; ++i) h.Accept(h.Job("other.example", {"a"}));
  dest.RunFor(absl::Seconds(5));
  EXPECT_EQ(dest.SentTo("other.example", start, h.now), 20);
  EXPECT_EQ(dest.SentTo("throttled.example", start, h.now), 2);

  // The suspension ends at 10 s; the deferred two wait for their retry, the other 198
  // come back at 2/s for 2 s (and its burst of one more), 4/s for 2 s, then at 8/s
  // the ramp has reached ramp_to and ends: no limit is configured, the rest go at once.
  const absl::Time resumed = start + absl::Seconds(10);
  dest.RunFor(resumed - h.now + absl::Seconds(7));
  const int first = dest.SentTo("throttled.example", resumed, resumed + absl::Seconds(2));
  const int second = dest.SentTo("throttled.example", resumed + absl::Seconds(2), resumed + absl::Seconds(4));
  const int third = dest.SentTo("throttled.example", resumed + absl::Seconds(4), resumed + absl::Seconds(6));
  EXPECT_GE(first, 4);
  EXPECT_LE(first, 6);
  EXPECT_GE(second, 7);
  EXPECT_LE(second, 9);
  EXPECT_EQ(first + second + third, 198);
  EXPECT_EQ(dest.SentTo("throttled.example", start, h.now), 2 + 198);  // the two deferred are not yet due
  EXPECT_TRUE(h.scheduler->Suspensions(h.now).empty());
}

// Yahoo says [TSS04] in its greeting (RFC 5321 §3.1: a server may refuse service
// there): the rules see that reply as they see a transaction's.
TEST(ShapingSchedulerTest, AThrottlingReplyInTheGreetingSuspendsTheDestinationToo) {
  SchedulerHarness h(SchedulerHarness::DefaultConfig());  // the built-in rules
  for (int i = 0; i < 3; ++i) h.Accept(h.Job("yahoo.example", {"a"}));
  h.Resolved("yahoo.example", SmtpHop({"192.0.2.1:25"}));
  const OpenConnection open = h.Take<OpenConnection>();
  const AttemptReply greeting = Reply(
      421, "4.7.0", "4.7.0 [TSS04] Messages from 192.0.2.9 temporarily deferred due to unexpected volume");
  h.Closed(open.connection, "greeting: 421 4.7.0 [TSS04] ...", false, &greeting);
  const std::vector<Suspension> suspended = h.scheduler->Suspensions(h.now);
  ASSERT_EQ(suspended.size(), 1u);
  EXPECT_EQ(suspended[0].domain, "yahoo.example");
  EXPECT_NE(suspended[0].reason.find("yahoo-tss04"), std::string::npos) << suspended[0].reason;
  EXPECT_NE(h.AccountingText().find("\"type\":\"shaping\",\"time\""), std::string::npos);
  EXPECT_EQ(h.scheduler->stats().shaping_actions[static_cast<size_t>(AutomationAction::kSuspend)], 1u);
  // No connection opens while it lasts.
  h.TakeAll<OpenConnection>();
  h.Advance(absl::Minutes(14));
  EXPECT_EQ(h.Count<OpenConnection>(), 0u);

  // A connection that simply failed (no reply) is no throttling reply.
  SchedulerHarness plain(SchedulerHarness::DefaultConfig());
  plain.Accept(plain.Job("other.example", {"a"}));
  plain.Resolved("other.example", SmtpHop({"192.0.2.2:25"}));
  plain.Closed(plain.Take<OpenConnection>().connection, "connect: Connection refused");
  EXPECT_TRUE(plain.scheduler->Suspensions(plain.now).empty());
}

TEST(ShapingSchedulerTest, SetRateAndSetConnectionLimitHoldForTheirDuration) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.shaping = Policy(R"(
builtin_automation = false
[[automation]]
name = "slow"
code = "452"
action = "set_rate"
rate = "1/s"
duration = "5s"
)");
  config.domain_max_connections = 1;
  SchedulerHarness h(config);
  FakeDestination dest(h);
  dest.routes["dest.example"] = SmtpHop({"192.0.2.1:25"});
  int replies = 0;
  dest.reply = [&](const std::string&, const std::string&) {
    return ++replies == 1 ? Reply(452, "4.2.1", "slow down") : Reply(250);
  };
  for (int i = 0; i < 100; ++i) h.Accept(h.Job("dest.example", {"a"}));
  const absl::Time start = h.now;
  dest.RunFor(absl::Seconds(4));
  // 1/s for 5 s (two at once, its burst): 2 + 4 in 4 s after the first.
  EXPECT_LE(dest.SentTo("dest.example", start, h.now), 1 + 6);
  EXPECT_TRUE(absl::StrContains(dest.accounting, "\"action\":\"set_rate\",\"rule\":\"slow\""));
  dest.RunFor(absl::Seconds(2));  // the override lapsed: the rest at once
  EXPECT_EQ(dest.SentTo("dest.example", start, h.now), 100);
}

TEST(ShapingSchedulerTest, TemporaryRuleDefersA5xxAndBounceRuleEmptiesTheQueue) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.shaping = Policy(R"(
[[automation]]
name = "dead"
code = "5*"
text = "domain is gone"
action = "bounce"
)");
  config.domain_max_connections = 1;
  SchedulerHarness h(config);
  FakeDestination dest(h);
  dest.routes["listed.example"] = SmtpHop({"192.0.2.1:25"});
  dest.routes["gone.example"] = SmtpHop({"192.0.2.2:25"});
  dest.reply = [](const std::string& domain, const std::string&) {
    if (domain == "listed.example") {
      // The built-in Microsoft rule: a block list entry that is lifted on request.
      return Reply(550, "5.7.1", "Unfortunately, messages from [192.0.2.9] weren't sent. (S3150)");
    }
    return Reply(550, "5.0.0", "this domain is gone");
  };
  h.Accept(h.Job("listed.example", {"a"}));
  h.Accept(h.Job("listed.example", {"b"}));
  for (int i = 0; i < 5; ++i) h.Accept(h.Job("gone.example", {"a"}));
  // Connection limit 1 for gone.example: its jobs wait in line behind the first.
  dest.RunFor(absl::Milliseconds(3));
  const std::string accounting = dest.accounting;
  // listed.example: deferred (the 550 was made 4xx), then suspended for an hour.
  EXPECT_TRUE(
      absl::StrContains(accounting, "\"action\":\"temporary\",\"rule\":\"microsoft-s3150-temporary\""))
      << accounting;
  EXPECT_TRUE(absl::StrContains(accounting, "\"action\":\"suspend\",\"rule\":\"microsoft-s3150-suspend\""))
      << accounting;
  int listed_deferred = 0, gone_bounced = 0;
  for (const DeliveryResult& r : h.results) {
    listed_deferred += absl::StartsWith(r.text, "Unfortunately") && r.outcome == Outcome::kDeferred ? 1 : 0;
    gone_bounced += r.outcome == Outcome::kBounced ? 1 : 0;
  }
  EXPECT_EQ(listed_deferred, 1);  // the second waits out the suspension, untried
  // gone.example: the first bounced on its reply; the rule bounced the other four.
  EXPECT_EQ(gone_bounced, 5);
  EXPECT_EQ(h.scheduler->stats().shaping_actions[static_cast<size_t>(AutomationAction::kBounce)], 1u);
  EXPECT_EQ(dest.SentTo("gone.example", h.now - absl::Hours(1), h.now + absl::Hours(1)), 1);
}

TEST(ShapingSchedulerTest, ADestinationShapedToRateZeroIsNotLookedUpUntilAReloadLetsItGo) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.shaping = Policy("[default]\nmax_message_rate = 0\n");  // hold everything
  SchedulerHarness h(config);
  for (int i = 0; i < 5; ++i) h.Accept(h.Job("dest.example", {"a"}));
  h.Accept(h.Job("other.example", {"b"}));
  h.Advance(absl::Minutes(10));
  EXPECT_EQ(h.Count<ResolveRoute>(), 0u);  // as an operator's suspension: not even a lookup
  EXPECT_EQ(h.scheduler->jobs(), 6u);
  h.SetShaping(Policy("[destination.\"other.example\"]\nmax_message_rate = \"1/s\"\n"));
  const std::vector<ResolveRoute> lookups = h.TakeAll<ResolveRoute>();
  ASSERT_EQ(lookups.size(), 2u);  // the default no longer holds either
}

TEST(ShapingSchedulerTest, AReloadAppliesNewRatesToMailAlreadyWaiting) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  config.shaping = Policy("[destination.\"dest.example\"]\nmax_message_rate = 0\n");
  SchedulerHarness h(config);
  FakeDestination dest(h);
  dest.routes["dest.example"] = SmtpHop({"192.0.2.1:25"});
  for (int i = 0; i < 10; ++i) h.Accept(h.Job("dest.example", {"a"}));
  const absl::Time start = h.now;
  dest.RunFor(absl::Seconds(2));
  EXPECT_EQ(dest.SentTo("dest.example", start, h.now), 0);  // a rate of 0: suspended
  EXPECT_EQ(h.scheduler->jobs(), 10u);
  h.SetShaping(Policy("[destination.\"dest.example\"]\nmax_message_rate = \"1/s\"\n"));
  dest.RunFor(absl::Seconds(3) + absl::Milliseconds(500));
  EXPECT_EQ(dest.SentTo("dest.example", start, h.now), 2 + 3);  // its burst of two, then one a second
}

}  // namespace
}  // namespace ringpost::queue
