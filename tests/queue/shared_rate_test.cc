// Shared limits (shared = true with --redis), with the scheduler's fake clock and the
// test in Redis's place. Rates: a shard asks for tokens in batches, sends exactly as
// many messages as it was granted, waits when Redis says to, gives back what it leaves
// unused, and while Redis is away keeps to its share of the limit (limit ÷ nodes).
// Connection limits: a connection opens only with a lease, held leases are renewed,
// unused ones given back, and while Redis is away a node keeps to its share.
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "queue/schedule/delivery_scheduler.h"
#include "queue/schedule/shared_rate.h"
#include "tests/queue/fake_destination.h"
#include "tests/queue/scheduler_harness.h"

namespace ringpost::queue {
namespace {

using testing::FakeDestination;
using testing::Reply;
using testing::SchedulerHarness;
using testing::SmtpHop;

const char kKey[] = "ringpost:rate:dest.example";

SchedulerConfig ClusterConfig(const std::string& shaping_text, uint32_t nodes = 4) {
  SchedulerConfig config = SchedulerHarness::DefaultConfig();
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(shaping_text, "shaping.toml");
  EXPECT_TRUE(policy.ok()) << policy.status();
  config.shaping = std::make_shared<const ShapingPolicy>(*std::move(policy));
  config.cluster = true;
  config.cluster_nodes = nodes;
  return config;
}

const char kShared[] = R"(
[destination."dest.example"]
max_message_rate = "40/s"
shared = true
)";

struct Network : FakeDestination {
  explicit Network(SchedulerHarness& harness) : FakeDestination(harness) {
    routes["dest.example"] = SmtpHop({"192.0.2.1:25"});
  }
  void Settle() { RunFor(absl::ZeroDuration()); }
};

void AcceptMany(SchedulerHarness& h, int n) {
  for (int i = 0; i < n; ++i) h.Accept(h.Job("dest.example", {absl::StrCat("r", i)}));
}

TEST(SharedRateTest, ABatchIsAFifthOfASecondOfTheLimit) {
  SharedRate shared("k");
  shared.set_rate(*Rate::Parse("40/s"));
  EXPECT_EQ(shared.BatchSize(), 8u);
  shared.set_rate(*Rate::Parse("1/h"));
  EXPECT_EQ(shared.BatchSize(), 1u);  // never less than one
  shared.set_rate(*Rate::Parse("1000000/s"));
  EXPECT_EQ(shared.BatchSize(), SharedRate::kBatchMax);
  shared.set_rate(*Rate::Parse("0"));
  EXPECT_EQ(shared.ToAsk(absl::UnixEpoch()), 0u);  // suspended: nothing to ask for
}

TEST(SharedRateTest, MessagesGoOnlyWithTokensRedisGranted) {
  SchedulerHarness h(ClusterConfig(kShared));
  h.ClusterState(true);
  Network net(h);
  AcceptMany(h, 30);
  net.Settle();
  EXPECT_TRUE(net.sent.empty());  // nothing before Redis answers
  std::vector<TakeTokens> asked = h.TakeAll<TakeTokens>();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].key, kKey);
  EXPECT_EQ(asked[0].count, 8u);  // 40/s × 200 ms
  EXPECT_EQ(asked[0].rate, *Rate::Parse("40/s"));
  EXPECT_EQ(asked[0].tolerance, SharedRate::kBatchSpan);

  // Each shard still paces to the whole rate (a burst of 50 ms, then 25 ms apart).
  h.Tokens(kKey, 3);
  net.RunFor(absl::Milliseconds(300));
  EXPECT_EQ(net.sent.size(), 3u);
  // Fewer than asked: others share the limit, so the next ask came 100 ms later.
  asked = h.TakeAll<TakeTokens>();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].count, 8u);

  // Redis: none before 500 ms. Nothing goes, nothing is asked, until then.
  h.Tokens(kKey, 0, absl::Milliseconds(500));
  net.RunFor(absl::Milliseconds(400));
  EXPECT_EQ(net.sent.size(), 3u);
  EXPECT_TRUE(h.TakeAll<TakeTokens>().empty());
  net.RunFor(absl::Milliseconds(200));
  asked = h.TakeAll<TakeTokens>();
  ASSERT_EQ(asked.size(), 1u);
  h.Tokens(kKey, 8);
  net.RunFor(absl::Milliseconds(300));
  EXPECT_EQ(net.sent.size(), 11u);
  EXPECT_EQ(h.scheduler->stats().shared_tokens_granted, 11u);
  EXPECT_EQ(h.scheduler->stats().shared_token_asks, 4u);
}

TEST(SharedRateTest, TokensLeftUnusedGoBackAfterASecond) {
  SchedulerHarness h(ClusterConfig(kShared));
  h.ClusterState(true);
  Network net(h);
  AcceptMany(h, 2);
  net.Settle();
  ASSERT_EQ(h.TakeAll<TakeTokens>().size(), 1u);
  h.Tokens(kKey, 8);
  net.Settle();
  EXPECT_EQ(net.sent.size(), 2u);
  EXPECT_TRUE(h.TakeAll<ReturnTokens>().empty());  // held a while, for more mail
  // Looked at with the events of the shard (here a new job), every quarter second.
  net.RunFor(absl::Milliseconds(1300));
  h.Accept(h.Job("other.example", {"x"}));
  const std::vector<ReturnTokens> back = h.TakeAll<ReturnTokens>();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].key, kKey);
  EXPECT_EQ(back[0].count, 6u);
  EXPECT_EQ(h.scheduler->stats().shared_tokens_returned, 6u);
}

TEST(SharedRateTest, WhileRedisIsAwayANodeKeepsToItsShareOfTheLimit) {
  // Not yet connected: 40/s over 4 nodes is 10/s here, and Redis is never asked.
  SchedulerHarness h(ClusterConfig(kShared, 4));
  Network net(h);
  AcceptMany(h, 200);
  const absl::Time start = h.now;
  net.RunFor(absl::Seconds(5));
  const int sent = net.SentTo("dest.example", start, h.now);
  EXPECT_GE(sent, 50);  // 10/s for 5 s, and the first at once
  EXPECT_LE(sent, 52);
  EXPECT_TRUE(h.TakeAll<TakeTokens>().empty());

  // Redis comes: tokens are asked for; it goes: the share again, and it is counted.
  h.ClusterState(true);
  net.RunFor(absl::Milliseconds(200));
  ASSERT_EQ(h.TakeAll<TakeTokens>().size(), 1u);
  h.ClusterState(false);
  EXPECT_EQ(h.scheduler->stats().cluster_fallbacks, 1u);
  h.Tokens(kKey, 0, absl::ZeroDuration(), /*failed=*/true);  // the ask in flight fails
  const absl::Time again = h.now;
  net.RunFor(absl::Seconds(2));
  EXPECT_GE(net.SentTo("dest.example", again, h.now), 19);
  EXPECT_LE(net.SentTo("dest.example", again, h.now), 22);
  EXPECT_TRUE(h.TakeAll<TakeTokens>().empty());
}

TEST(SharedRateTest, ASiteSharedInTheClusterIsPacedByTokensOnEveryShard) {
  // A site spread over 2 shards: in Redis, each shard's share paces to the whole rate
  // (the tokens are the limit), under the site's key.
  SchedulerConfig config = ClusterConfig(R"(
[destination."mx:*.mail.example"]
max_message_rate = "50/s"
shared = true
)");
  config.shards = 2;
  SchedulerHarness h(config);
  h.ClusterState(true);
  Network net(h);
  NextHop hop = SmtpHop({"192.0.2.7:25"});
  hop.names = {"mx1.mail.example"};
  net.routes["dest.example"] = hop;
  AcceptMany(h, 20);
  net.Settle();
  const std::vector<TakeTokens> asked = h.TakeAll<TakeTokens>();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].key, "ringpost:rate:mx:*.mail.example");
  EXPECT_EQ(asked[0].count, 10u);  // 50/s × 200 ms: the whole rate, not half
  h.Tokens(asked[0].key, 10);
  net.RunFor(absl::Milliseconds(300));
  EXPECT_EQ(net.sent.size(), 10u);
}

TEST(SharedRateTest, WithoutTheClusterASharedRateIsThisNodesOwn) {
  SchedulerConfig config = ClusterConfig(kShared);
  config.cluster = false;  // no --redis
  SchedulerHarness h(config);
  Network net(h);
  AcceptMany(h, 100);
  const absl::Time start = h.now;
  net.RunFor(absl::Seconds(1));
  EXPECT_GE(net.SentTo("dest.example", start, h.now), 40);
  EXPECT_LE(net.SentTo("dest.example", start, h.now), 42);
  EXPECT_TRUE(h.TakeAll<TakeTokens>().empty());
}

const char kLeases[] = "ringpost:conns:dest.example";
const char kSharedLimit[] = R"(
[destination."dest.example"]
connection_limit = 2
shared = true
)";

TEST(SharedLeasesTest, AConnectionOpensOnlyWithALeaseFromTheCluster) {
  SchedulerHarness h(ClusterConfig(kSharedLimit));
  h.ClusterState(true);
  AcceptMany(h, 10);
  for (const ResolveRoute& r : h.TakeAll<ResolveRoute>()) h.Resolved(r.queue, SmtpHop({"192.0.2.1:25"}));
  EXPECT_TRUE(h.TakeAll<OpenConnection>().empty());  // not before a lease
  std::vector<TakeLease> asked = h.TakeAll<TakeLease>();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].key, kLeases);
  EXPECT_EQ(asked[0].limit, 2u);
  EXPECT_EQ(asked[0].ttl, SharedLeases::kTtl);
  h.Lease(kLeases, asked[0].id, true);
  EXPECT_EQ(h.TakeAll<OpenConnection>().size(), 1u);
  // The next connection asks for the next lease, under another name.
  std::vector<TakeLease> next = h.TakeAll<TakeLease>();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].id, asked[0].id);
  // The cluster has none left for 300 ms: nothing opens, nothing is asked, until then.
  h.Lease(kLeases, next[0].id, false, absl::Milliseconds(300));
  EXPECT_TRUE(h.TakeAll<OpenConnection>().empty());
  h.Advance(absl::Milliseconds(200));
  EXPECT_TRUE(h.TakeAll<TakeLease>().empty());
  h.Advance(absl::Milliseconds(200));
  next = h.TakeAll<TakeLease>();
  ASSERT_EQ(next.size(), 1u);
  h.Lease(kLeases, next[0].id, true);
  EXPECT_EQ(h.TakeAll<OpenConnection>().size(), 1u);
  EXPECT_TRUE(h.TakeAll<TakeLease>().empty());  // two open: the local limit holds too
  EXPECT_EQ(h.scheduler->stats().shared_leases_granted, 2u);
}

TEST(SharedLeasesTest, HeldLeasesAreRenewedAndOnesLeftUnusedGoBack) {
  SchedulerHarness h(ClusterConfig(kSharedLimit));
  h.ClusterState(true);
  Network net(h);
  h.Accept(h.Job("dest.example", {"r"}));
  net.Settle();
  std::vector<TakeLease> asked = h.TakeAll<TakeLease>();
  ASSERT_EQ(asked.size(), 1u);
  h.Lease(kLeases, asked[0].id, true);
  net.Settle();
  ASSERT_EQ(net.sent.size(), 1u);
  // Its connection stays open (idle) a while: the lease is renewed, not given back.
  net.RunFor(SharedLeases::kRenewEvery + absl::Milliseconds(300));
  std::vector<RenewLeases> renewed = h.TakeAll<RenewLeases>();
  ASSERT_FALSE(renewed.empty());
  EXPECT_EQ(renewed[0].ids, std::vector<std::string>{asked[0].id});
  // The idle connection closes (QUIT); a second later its lease goes back.
  net.RunFor(absl::Seconds(3));
  h.Accept(h.Job("other.example", {"x"}));  // the events of the shard look at what is held
  const std::vector<ReleaseLeases> released = h.TakeAll<ReleaseLeases>();
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].key, kLeases);
  EXPECT_EQ(released[0].ids, std::vector<std::string>{asked[0].id});
}

TEST(SharedLeasesTest, WhileRedisIsAwayANodeKeepsToItsShareOfTheConnections) {
  // connection_limit 2 over 4 nodes: one connection here (never none), no lease asked.
  SchedulerHarness h(ClusterConfig(kSharedLimit, 4));
  AcceptMany(h, 10);
  for (const ResolveRoute& r : h.TakeAll<ResolveRoute>()) h.Resolved(r.queue, SmtpHop({"192.0.2.1:25"}));
  EXPECT_EQ(h.TakeAll<OpenConnection>().size(), 1u);
  EXPECT_TRUE(h.TakeAll<TakeLease>().empty());
  // Redis comes: the open connection is counted there (a lease added as it is), and
  // the next one asks for a lease of its own once the other nodes had time to count
  // theirs (this node may have started during an outage).
  h.ClusterState(true);
  const std::vector<RenewLeases> adopted = h.TakeAll<RenewLeases>();
  ASSERT_EQ(adopted.size(), 1u);
  EXPECT_EQ(adopted[0].key, kLeases);
  EXPECT_EQ(adopted[0].ids.size(), 1u);
  EXPECT_TRUE(h.TakeAll<TakeLease>().empty());
  h.Advance(SharedLeases::kSettleAfterReturn);
  EXPECT_EQ(h.TakeAll<TakeLease>().size(), 1u);
}

// Opens the two connections connection_limit = 2 allows, a lease each, and starts a
// message on each.
std::vector<ConnectionId> OpenTwoWithLeases(SchedulerHarness& h) {
  AcceptMany(h, 10);
  for (const ResolveRoute& r : h.TakeAll<ResolveRoute>()) h.Resolved(r.queue, SmtpHop({"192.0.2.1:25"}));
  std::vector<ConnectionId> open;
  for (int i = 0; i < 2; ++i) {
    std::vector<TakeLease> asked = h.TakeAll<TakeLease>();
    EXPECT_EQ(asked.size(), 1u);
    for (const TakeLease& ask : asked) h.Lease(kLeases, ask.id, true);
    for (const OpenConnection& opened : h.TakeAll<OpenConnection>()) open.push_back(opened.connection);
  }
  for (ConnectionId id : open) h.Ready(id);
  EXPECT_EQ(h.TakeAll<SendMessage>().size(), open.size());
  return open;
}

// The message on `connection` is delivered, and the connection ready for the next.
void Delivered(SchedulerHarness& h, ConnectionId connection) {
  h.Sent(connection, {Reply(250)});
  h.WriteAllResults();
  h.Ready(connection);
}

// With a share of one connection: the first of `open` to finish its message ends
// (QUIT), the other goes on with the next.
void FirstEndsTheOtherGoesOn(SchedulerHarness& h, const std::vector<ConnectionId>& open) {
  Delivered(h, open[0]);
  const std::vector<CloseConnection> closed = h.TakeAll<CloseConnection>();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].connection, open[0]);
  EXPECT_TRUE(h.TakeAll<SendMessage>().empty());
  h.Closed(open[0], "QUIT");
  Delivered(h, open[1]);
  EXPECT_TRUE(h.TakeAll<CloseConnection>().empty());
  const std::vector<SendMessage> next = h.TakeAll<SendMessage>();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].connection, open[1]);
  EXPECT_TRUE(h.TakeAll<OpenConnection>().empty());
}

TEST(SharedLeasesTest, WhenRedisGoesAwayConnectionsPastTheShareEndAsTheyFinishAMessage) {
  // connection_limit 2 over 4 nodes: this node's share is one connection.
  SchedulerHarness h(ClusterConfig(kSharedLimit, 4));
  h.ClusterState(true);
  const std::vector<ConnectionId> open = OpenTwoWithLeases(h);
  ASSERT_EQ(open.size(), 2u);
  h.ClusterState(false);
  FirstEndsTheOtherGoesOn(h, open);
}

TEST(SharedLeasesTest, WhenRedisGoesAwayASitesConnectionsPastItsShareEndToo) {
  // A site of two domains (both on mx1.mail.example) with connection_limit 4 over 4
  // nodes: this node's share is one connection for the whole site.
  SchedulerHarness h(ClusterConfig(R"(
[destination."mx:*.mail.example"]
connection_limit = 4
shared = true
)",
                                   4));
  h.ClusterState(true);
  NextHop hop = SmtpHop({"192.0.2.7:25"});
  hop.names = {"mx1.mail.example"};
  for (const char* domain : {"a.example", "b.example"}) {
    for (const char* local : {"x", "y", "z"}) h.Accept(h.Job(domain, {local}));
  }
  for (const ResolveRoute& r : h.TakeAll<ResolveRoute>()) h.Resolved(r.queue, hop);
  std::vector<ConnectionId> open;
  for (int round = 0; round < 4 && open.size() < 2; ++round) {
    for (const TakeLease& ask : h.TakeAll<TakeLease>()) h.Lease(ask.key, ask.id, true);
    for (const OpenConnection& opened : h.TakeAll<OpenConnection>()) open.push_back(opened.connection);
  }
  ASSERT_EQ(open.size(), 2u);
  for (ConnectionId id : open) h.Ready(id);
  ASSERT_EQ(h.TakeAll<SendMessage>().size(), 2u);
  h.ClusterState(false);
  FirstEndsTheOtherGoesOn(h, open);
}

TEST(SharedLeasesTest, AfterAnOutageNewLeasesWaitUntilEveryNodeCountedItsConnections) {
  SchedulerHarness h(ClusterConfig(kSharedLimit, 4));
  h.ClusterState(true);
  const std::vector<ConnectionId> open = OpenTwoWithLeases(h);
  ASSERT_EQ(open.size(), 2u);
  h.ClusterState(false);
  Delivered(h, open[0]);
  h.Closed(open[0], "QUIT");
  // Redis is back (perhaps restarted, without the leases): the open connection's lease
  // is renewed at once, and a new lease waits until the other nodes had time to
  // reconnect and count theirs.
  h.ClusterState(true);
  const std::vector<RenewLeases> renewed = h.TakeAll<RenewLeases>();
  ASSERT_EQ(renewed.size(), 1u);
  EXPECT_EQ(renewed[0].ids.size(), 1u);
  EXPECT_TRUE(h.TakeAll<TakeLease>().empty());
  h.Advance(SharedLeases::kSettleAfterReturn - absl::Milliseconds(100));
  EXPECT_TRUE(h.TakeAll<TakeLease>().empty());
  h.Advance(absl::Milliseconds(200));
  EXPECT_EQ(h.TakeAll<TakeLease>().size(), 1u);
}

}  // namespace
}  // namespace ringpost::queue
