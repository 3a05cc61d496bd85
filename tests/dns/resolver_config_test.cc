#include "dns/resolver_config.h"

#include "gtest/gtest.h"

namespace ringpost::dns {
namespace {

TEST(ResolverConfigTest, FlagOverridesAndDefaultsPortTo53) {
  auto servers = ParseDnsServers("127.0.0.1:5353,127.0.0.2,[::1]:53,::1");
  ASSERT_TRUE(servers.ok()) << servers.status();
  ASSERT_EQ(servers->size(), 4u);
  EXPECT_EQ((*servers)[0].ToString(), "127.0.0.1:5353");
  EXPECT_EQ((*servers)[1].ToString(), "127.0.0.2:53");
  EXPECT_EQ((*servers)[2].ToString(), "[::1]:53");
  EXPECT_EQ((*servers)[3].ToString(), "[::1]:53");
  EXPECT_FALSE(ParseDnsServers("dns.example").ok());
  EXPECT_FALSE(ParseDnsServers("").ok());
}

TEST(ResolverConfigTest, ReadsNameserverLinesOnly) {
  const auto servers = ParseResolvConf(
      "# comment\nsearch example.org\nnameserver 192.0.2.53\n  nameserver\t::1  \n"
      "nameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n");
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].ToString(), "192.0.2.53:53");
  EXPECT_EQ(servers[1].ToString(), "[::1]:53");
}

TEST(ResolverConfigTest, BoundedOnHostileFiles) {
  std::string many;
  for (int i = 0; i < 100; ++i) many += "nameserver 127.0.0.1\n";
  EXPECT_EQ(ParseResolvConf(many).size(), kResolverServersMax);
  EXPECT_TRUE(ParseResolvConf(std::string(200000, 'x')).empty());
}

TEST(ResolverConfigTest, MissingResolvConfMeansLocalhost) {
  auto servers = ResolveDnsServers("", "/nonexistent/resolv.conf");
  ASSERT_TRUE(servers.ok());
  ASSERT_EQ(servers->size(), 1u);
  EXPECT_EQ((*servers)[0].ToString(), "127.0.0.1:53");
}

}  // namespace
}  // namespace ringpost::dns
