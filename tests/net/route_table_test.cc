// --routes: static next hops and the smarthost (DESIGN.md, The operator interface).
#include "net/outbound/route_table.h"

#include "gtest/gtest.h"

namespace ringpost::net {
namespace {

TEST(RouteTableTest, ADomainsOwnRouteWinsOverTheSmarthost) {
  auto table = RouteTable::Parse("example.com=127.0.0.2:25, *=[::1]:2525 ,Other.Example.=127.0.0.3:2626");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Find("EXAMPLE.com")->ToString(), "127.0.0.2:25");
  EXPECT_EQ(table->Find("other.example")->ToString(), "127.0.0.3:2626");
  EXPECT_EQ(table->Find("anything.else")->ToString(), "[::1]:2525");
  EXPECT_EQ(table->size(), 3u);
}

TEST(RouteTableTest, WithoutASmarthostUnroutedDomainsGoToDns) {
  auto table = RouteTable::Parse("example.com=127.0.0.2:25");
  ASSERT_TRUE(table.ok());
  EXPECT_FALSE(table->Find("example.org").has_value());
  EXPECT_FALSE(table->has_smarthost());
  EXPECT_TRUE(RouteTable::Parse("")->size() == 0);
}

// DESIGN.md: "domain=host:port". A host name is kept as a name, looked up (A/AAAA, not
// MX) when mail goes there; brackets around it (Postfix's "[host]:port") mean the same.
TEST(RouteTableTest, NextHopsByHostNameAreKeptAsNames) {
  auto table =
      RouteTable::Parse("example.com=Relay.Example.NET:587,*=[smarthost.example]:25,a.test=127.0.0.9:26");
  ASSERT_TRUE(table.ok()) << table.status();
  const auto route = table->Find("example.com");
  ASSERT_TRUE(route.has_value());
  EXPECT_FALSE(route->address.has_value());
  EXPECT_EQ(route->host, "relay.example.net");
  EXPECT_EQ(route->port, 587);
  EXPECT_EQ(route->ToString(), "relay.example.net:587");
  EXPECT_EQ(table->Find("other.org")->ToString(), "smarthost.example:25");
  EXPECT_EQ(table->Find("a.test")->address->ToString(), "127.0.0.9:26");
  // A trailing dot names the same host; Postfix's "[IPv4]:port" is an address.
  auto more = RouteTable::Parse("b.test=relay.example.net.:25,c.test=[192.0.2.1]:2525");
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(more->Find("b.test")->ToString(), "relay.example.net:25");
  ASSERT_TRUE(more->Find("c.test")->address.has_value());
  EXPECT_EQ(more->Find("c.test")->ToString(), "192.0.2.1:2525");
}

TEST(RouteTableTest, MistakesAreRefusedWithTheEntryNamed) {
  for (const char* bad :
       {"example.com", "example.com=mx.example.net", "example.com=mx.example.net:0",
        "example.com=mx.example.net:65536", "example.com=mx_bad.example:25", "example.com=-mx.example:25",
        "example.com=mx.example.net:x", "example.com=:25", "example.com=127.0.0.1:0",
        "*=127.0.0.1:25,*=127.0.0.2:25", "a.com=127.0.0.1:25,A.com=127.0.0.2:25", "bad domain=127.0.0.1:25",
        "=127.0.0.1:25",
        // Ports are 1-5 digits, nothing else; hosts fully qualified (no search list, no hosts file).
        "example.com=mx.example.net:+25", "example.com=mx.example.net: 25",
        "example.com=mx.example.net:0000025", "example.com=localhost:25", "example.com=relay:25"}) {
    auto table = RouteTable::Parse(bad);
    EXPECT_FALSE(table.ok()) << bad;
    EXPECT_NE(table.status().message().find("--routes"), absl::string_view::npos) << table.status();
  }
}

}  // namespace
}  // namespace ringpost::net
