// --routes: static next hops and the smarthost (DESIGN.md, The operator interface).
#include "net/route_table.h"

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

TEST(RouteTableTest, MistakesAreRefusedWithTheEntryNamed) {
  for (const char* bad : {"example.com", "example.com=mx.example.net:25", "example.com=127.0.0.1:0",
                          "*=127.0.0.1:25,*=127.0.0.2:25", "a.com=127.0.0.1:25,A.com=127.0.0.2:25",
                          "bad domain=127.0.0.1:25", "=127.0.0.1:25"}) {
    auto table = RouteTable::Parse(bad);
    EXPECT_FALSE(table.ok()) << bad;
    EXPECT_NE(table.status().message().find("--routes"), absl::string_view::npos) << table.status();
  }
}

}  // namespace
}  // namespace ringpost::net
