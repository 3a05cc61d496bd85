// --egress_pools and --egress_sender_pools: what they accept, what they refuse (with
// the mistake named), and which pool a sender's domain picks.
#include "queue/schedule/egress_pools.h"
#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

const std::vector<std::string> kSources = {"a", "b", "c"};

std::string ErrorOf(absl::string_view pools) {
  absl::StatusOr<EgressPools> parsed = EgressPools::Parse(pools, kSources);
  return parsed.ok() ? "(parsed)" : std::string(parsed.status().message());
}

TEST(EgressPoolsTest, PoolsNameTheirSourcesWithWeights) {
  absl::StatusOr<EgressPools> pools = EgressPools::Parse("bulk=a:3+b:1, transactional=c", kSources);
  ASSERT_TRUE(pools.ok()) << pools.status();
  const std::vector<WeightedSource>* bulk = pools->Find("bulk");
  ASSERT_NE(bulk, nullptr);
  ASSERT_EQ(bulk->size(), 2u);
  EXPECT_EQ((*bulk)[0].source, "a");
  EXPECT_EQ((*bulk)[0].weight, 3u);
  EXPECT_EQ((*bulk)[1].source, "b");
  EXPECT_EQ((*bulk)[1].weight, 1u);
  ASSERT_NE(pools->Find("transactional"), nullptr);
  EXPECT_EQ(pools->Find("transactional")->at(0).weight, 1u);  // a weight defaults to 1
  EXPECT_EQ(pools->Find("other"), nullptr);
  EXPECT_TRUE(EgressPools::Parse("", kSources)->empty());
}

TEST(EgressPoolsTest, MistakesAreNamed) {
  EXPECT_EQ(ErrorOf("bulk=z"), "pool bulk: 'z' is not a source of --egress_sources");
  EXPECT_EQ(ErrorOf("bulk=a:0"), "pool bulk: 'a:0': a weight is a whole number from 1 to 1000");
  EXPECT_EQ(ErrorOf("bulk=a:x"), "pool bulk: 'a:x': a weight is a whole number from 1 to 1000");
  EXPECT_EQ(ErrorOf("bulk=a:1001"), "pool bulk: 'a:1001': a weight is a whole number from 1 to 1000");
  EXPECT_EQ(ErrorOf("bulk=a+a"), "pool bulk: source a named twice");
  EXPECT_EQ(ErrorOf("bulk=a,bulk=b"), "pool bulk named twice");
  EXPECT_NE(ErrorOf("bulk"), "(parsed)");
  EXPECT_NE(ErrorOf("b ulk=a"), "(parsed)");
  EXPECT_NE(ErrorOf("=a"), "(parsed)");
  EXPECT_EQ(ErrorOf("bulk="), "pool bulk: '' is not a source of --egress_sources");
}

TEST(EgressPoolsTest, ASendersDomainPicksTheMostSpecificPool) {
  absl::StatusOr<EgressPools> pools = EgressPools::Parse("bulk=a,news=b,tx=c", kSources);
  ASSERT_TRUE(pools.ok());
  absl::StatusOr<SenderPools> senders =
      SenderPools::Parse("Example.com=bulk,*.example.com=news,*.deep.example.com=bulk,*=tx", *pools);
  ASSERT_TRUE(senders.ok()) << senders.status();
  EXPECT_EQ(senders->PoolFor("ann@example.com"), "bulk");
  EXPECT_EQ(senders->PoolFor("ann@EXAMPLE.COM."), "bulk");
  EXPECT_EQ(senders->PoolFor("ann@lists.example.com"), "news");
  EXPECT_EQ(senders->PoolFor("ann@x.deep.example.com"), "bulk");  // the longer suffix
  EXPECT_EQ(senders->PoolFor("ann@elsewhere.example"), "tx");
  EXPECT_EQ(senders->PoolFor(""), "tx");  // the null sender: bounces go out too
  EXPECT_EQ(senders->PoolFor("notanaddress"), "tx");

  absl::StatusOr<SenderPools> no_fallback = SenderPools::Parse("example.com=bulk", *pools);
  ASSERT_TRUE(no_fallback.ok());
  EXPECT_EQ(no_fallback->PoolFor("ann@other.example"), "");  // the default address

  EXPECT_EQ(SenderPools::Parse("example.com=nope", *pools).status().message(),
            "'nope' is not a pool of --egress_pools");
  EXPECT_EQ(SenderPools::Parse("exa mple.com=bulk", *pools).status().message(),
            "'exa mple.com' is not a domain (example.com, *.example.com or *)");
  EXPECT_FALSE(SenderPools::Parse("example.com", *pools).ok());
}

}  // namespace
}  // namespace ringpost::queue
