// International domain names to A-labels (RFC 5890-5891, UTS #46 non-transitional).
#include "dns/idna.h"

#include "gtest/gtest.h"

namespace ringpost::dns {
namespace {

TEST(IdnaTest, Rfc5891_ULabelsBecomeALabels) {
  EXPECT_EQ(*ToAsciiDomain("b\xC3\xBC"
                           "cher.test"),
            "xn--bcher-kva.test");
  EXPECT_EQ(*ToAsciiDomain("B\xC3\xBC"
                           "cher.TEST"),
            "xn--bcher-kva.test");  // UTS #46 maps case
  EXPECT_EQ(*ToAsciiDomain("\xE4\xBE\x8B\xE3\x81\x88.\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"),
            "xn--r8jz45g.xn--zckzah");  // 例え.テスト
  // All-ASCII names are not IDNA's business: returned as they are.
  EXPECT_EQ(*ToAsciiDomain("Example.ORG"), "Example.ORG");
  EXPECT_EQ(*ToAsciiDomain("xn--bcher-kva.test"), "xn--bcher-kva.test");
  EXPECT_FALSE(IsInternationalDomain("example.org"));
  EXPECT_TRUE(
      IsInternationalDomain("b\xC3\xBC"
                            "cher.test"));
}

TEST(IdnaTest, Rfc5892_NamesIdnaRefusesAreErrors) {
  for (const char* bad : {"\xE2\x98\x83.test",  // a snowman: disallowed
                          "-b\xC3\xBC.test",    // a leading hyphen
                          "a\xE2\x80\x8C"
                          "b.test",            // ZWNJ outside its context (CONTEXTJ)
                          "\xFF\xFE.test"}) {  // not UTF-8
    auto result = ToAsciiDomain(bad);
    EXPECT_FALSE(result.ok()) << bad;
    if (!result.ok()) {
      EXPECT_NE(result.status().message().find("not a valid international domain name"), std::string::npos);
    }
  }
  EXPECT_FALSE(ToAsciiDomain(std::string(2000, '\xC3')).ok());
}

}  // namespace
}  // namespace ringpost::dns
