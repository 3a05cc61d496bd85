// Domain names as configuration and TLS use them (core/domain_name.h).
#include "core/domain_name.h"

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

TEST(DomainNameTest, CanonicalIsLowerCaseWithoutTheTrailingDot) {
  EXPECT_EQ(CanonicalDomain(" Example.COM. "), "example.com");
  EXPECT_EQ(CanonicalDomain("example.com"), "example.com");
}

// RFC 6066 §3 (SNI carries a host name, never an address) and RFC 1123 §2.1 (labels of
// letters, digits and inner hyphens).
TEST(DomainNameTest, Rfc6066_3_OnlyHostNamesAreServerNames) {
  for (const char* good :
       {"mx.example.com", "MX1.example.com", "a", "xn--bcher-kva.example", "1mx.example"}) {
    EXPECT_TRUE(IsHostName(good)) << good;
  }
  for (const char* bad : {"", "192.0.2.1", "::1", "mx..example", ".mx", "mx.", "-mx.example", "mx-.example",
                          "mx_1.example", "mx example", "mx\n.example", "m\xc3\xa9.example"}) {
    EXPECT_FALSE(IsHostName(bad)) << bad;
  }
  EXPECT_TRUE(IsHostName(std::string(63, 'a') + ".example"));
  EXPECT_FALSE(IsHostName(std::string(64, 'a') + ".example"));
  EXPECT_FALSE(IsHostName(std::string(254, 'a')));
}

}  // namespace
}  // namespace ringpost::core
