#include "core/socket_address.h"

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

TEST(SocketAddressTest, ParsesIpv4AndIpv6) {
  auto v4 = ParseSocketAddress("127.0.0.1:2525");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->port(), 2525);
  EXPECT_EQ(v4->ToString(), "127.0.0.1:2525");
  auto v6 = ParseSocketAddress("[::1]:25");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->ToString(), "[::1]:25");
  auto any = ParseSocketAddress("0.0.0.0:0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->port(), 0);
}

TEST(SocketAddressTest, RejectsMalformed) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", ":25", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:2x", "::1:25",
        "[::1]25", "[::1:25", "[127.0.0.1]:25", "999.0.0.1:25", "localhost:25", "127.0.0.1:25 ",
        "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:1]:25"}) {
    EXPECT_FALSE(ParseSocketAddress(bad).ok()) << bad;
  }
}

TEST(SocketAddressTest, ParsesLists) {
  auto list = ParseSocketAddressList("127.0.0.1:25,[::1]:25");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_FALSE(ParseSocketAddressList("127.0.0.1:25,").ok());
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::string("127.0.0.1:1");
  EXPECT_FALSE(ParseSocketAddressList(many).ok());
}

}  // namespace
}  // namespace ringpost::core
