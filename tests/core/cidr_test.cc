#include "core/cidr.h"

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

SocketAddress At(const char* text) { return *ParseSocketAddress(text); }

TEST(CidrTest, DesignDefaultRelayNetworks) {
  auto set = CidrSet::Parse("127.0.0.0/8,::1/128");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->Contains(At("127.0.0.1:4000")));
  EXPECT_TRUE(set->Contains(At("127.255.1.2:1")));
  EXPECT_TRUE(set->Contains(At("[::1]:25")));
  EXPECT_FALSE(set->Contains(At("128.0.0.1:25")));
  EXPECT_FALSE(set->Contains(At("[::2]:25")));
  EXPECT_EQ(set->ToString(), "127.0.0.0/8,::1/128");
}

TEST(CidrTest, PrefixBoundariesAndMappedAddresses) {
  auto set = CidrSet::Parse("192.0.2.128/25, 2001:db8::/33, 198.51.100.7");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->Contains(At("192.0.2.128:1")));
  EXPECT_TRUE(set->Contains(At("192.0.2.255:1")));
  EXPECT_FALSE(set->Contains(At("192.0.2.127:1")));
  EXPECT_TRUE(set->Contains(At("[2001:db8:7fff::1]:1")));
  EXPECT_FALSE(set->Contains(At("[2001:db8:8000::1]:1")));
  EXPECT_TRUE(set->Contains(At("198.51.100.7:1")));  // a bare address is one host
  EXPECT_FALSE(set->Contains(At("198.51.100.8:1")));
  EXPECT_TRUE(set->Contains(At("[::ffff:192.0.2.200]:1")));  // an IPv4 client on a v6 socket
  auto everything = CidrSet::Parse("0.0.0.0/0");
  EXPECT_TRUE(everything->Contains(At("203.0.113.9:1")));
  EXPECT_FALSE(everything->Contains(At("[2001:db8::1]:1")));
  EXPECT_EQ(CidrSet::Parse("")->size(), 0u);
}

TEST(CidrTest, RejectsMalformedAndAmbiguousRanges) {
  for (const char* bad : {"10.1.2.3/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
                          "10.0.0/8", "host.example/8", "10.0.0.0/0008", "1.2.3.4/32/1"}) {
    EXPECT_FALSE(ParseCidr(bad).ok()) << bad;
  }
  std::string many;
  for (int i = 0; i < 1025; ++i) many += "10.0.0.1,";
  EXPECT_FALSE(CidrSet::Parse(many).ok());
}

}  // namespace
}  // namespace ringpost::core
