// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2).
#include "net/proxy/proxy_header.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::net {
namespace {

using Result = ProxyHeaderReader::Result;

std::string V2(uint8_t version_command, uint8_t family, const std::string& payload) {
  std::string out("\r\n\r\n\0\r\nQUIT\n", 12);
  out.push_back(static_cast<char>(version_command));
  out.push_back(static_cast<char>(family));
  out.push_back(static_cast<char>(payload.size() >> 8));
  out.push_back(static_cast<char>(payload.size() & 0xff));
  return out + payload;
}

// 192.0.2.1:51234 -> 198.51.100.2:25
const std::string kTcp4Addresses("\xc0\x00\x02\x01\xc6\x33\x64\x02\xc8\x22\x00\x19", 12);

struct Fed {
  Result result;
  size_t consumed;
};

Fed FeedAll(ProxyHeaderReader& reader, absl::string_view bytes) {
  size_t consumed = 0;
  const Result result = reader.Feed(bytes, &consumed);
  return {result, consumed};
}

TEST(ProxyHeaderTest, V1Tcp4NamesTheClientAndLeavesTheClientsBytes) {
  ProxyHeaderReader reader;
  const std::string header = "PROXY TCP4 192.0.2.1 198.51.100.2 51234 25\r\n";
  const Fed fed = FeedAll(reader, header + "EHLO client\r\n");
  ASSERT_EQ(fed.result, Result::kDone) << reader.error();
  EXPECT_EQ(fed.consumed, header.size());  // the EHLO is the client's, not the header's
  EXPECT_EQ(reader.header().version, 1);
  EXPECT_FALSE(reader.header().use_socket);
  EXPECT_EQ(reader.header().source.ToString(), "192.0.2.1:51234");
  EXPECT_EQ(reader.header().destination.ToString(), "198.51.100.2:25");
}

TEST(ProxyHeaderTest, V1Tcp6AndUnknownByteByByte) {
  ProxyHeaderReader six;
  const std::string header = "PROXY TCP6 2001:db8::1 2001:db8::2 65535 587\r\n";
  size_t consumed = 0;
  for (size_t i = 0; i + 1 < header.size(); ++i) {
    ASSERT_EQ(six.Feed(header.substr(i, 1), &consumed), Result::kNeedMore) << i;
    EXPECT_EQ(consumed, 1u);
  }
  ASSERT_EQ(six.Feed("\n", &consumed), Result::kDone) << six.error();
  EXPECT_EQ(six.header().source.ToString(), "[2001:db8::1]:65535");

  ProxyHeaderReader unknown;
  ASSERT_EQ(FeedAll(unknown, "PROXY UNKNOWN ffff:f...f:ffff 12345\r\n").result, Result::kDone);
  EXPECT_TRUE(unknown.header().use_socket);
}

TEST(ProxyHeaderTest, V1RefusesWhatTheSpecificationDoesNotAllow) {
  const std::string too_long = "PROXY TCP4 " + std::string(100, '1') + "\r\n";
  for (const std::string& bad :
       {std::string("EHLO client\r\n"), std::string("PROXY TCP4 192.0.2.1 198.51.100.2 51234\r\n"),
        std::string("PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n"),
        std::string("PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n"),
        std::string("PROXY TCP4 192.0.2.1 198.51.100.2 0025 25\r\n"),
        std::string("PROXY TCP4  192.0.2.1 198.51.100.2 1 25\r\n"),
        std::string("PROXY UDP4 192.0.2.1 198.51.100.2 1 25\r\n"),
        std::string("PROXY TCP4 192.0.2.1 198.51.100.2 1 25\n"),
        std::string("proxy TCP4 192.0.2.1 198.51.100.2 1 25\r\n"), too_long}) {
    ProxyHeaderReader reader;
    EXPECT_EQ(FeedAll(reader, bad).result, Result::kError) << bad;
    EXPECT_FALSE(reader.error().empty());
  }
  ProxyHeaderReader reader;
  EXPECT_EQ(FeedAll(reader, too_long).consumed, ProxyHeaderReader::kV1BytesMax);  // stops at the bound
}

TEST(ProxyHeaderTest, V2ProxyTcp4WithTlvsAndLocal) {
  ProxyHeaderReader reader;
  // A TLV of type 0x01 (ALPN), 2 bytes, and a NOOP (0x04) of none.
  const std::string header = V2(0x21, 0x11, kTcp4Addresses + std::string("\x01\x00\x02h2\x04\x00\x00", 8));
  const Fed fed = FeedAll(reader, header + "EHLO");
  ASSERT_EQ(fed.result, Result::kDone) << reader.error();
  EXPECT_EQ(fed.consumed, header.size());
  EXPECT_EQ(reader.header().version, 2);
  EXPECT_EQ(reader.header().source.ToString(), "192.0.2.1:51234");
  EXPECT_EQ(reader.header().destination.ToString(), "198.51.100.2:25");

  ProxyHeaderReader local;  // a health check from the balancer itself
  ASSERT_EQ(FeedAll(local, V2(0x20, 0x00, "")).result, Result::kDone) << local.error();
  EXPECT_TRUE(local.header().use_socket);
  ProxyHeaderReader unix_family;
  ASSERT_EQ(FeedAll(unix_family, V2(0x21, 0x31, std::string(216, 'x'))).result, Result::kDone);
  EXPECT_TRUE(unix_family.header().use_socket);
}

TEST(ProxyHeaderTest, V2Tcp6) {
  std::string addresses(36, '\0');
  addresses[0] = '\x20';
  addresses[1] = '\x01';
  addresses[15] = '\x07';
  addresses[31] = '\x01';
  addresses[32] = '\x01';
  addresses[33] = '\x00';  // port 256
  addresses[35] = '\x19';  // port 25
  ProxyHeaderReader reader;
  ASSERT_EQ(FeedAll(reader, V2(0x21, 0x21, addresses)).result, Result::kDone) << reader.error();
  EXPECT_EQ(reader.header().source.ToString(), "[2001::7]:256");
  EXPECT_EQ(reader.header().destination.ToString(), "[::1]:25");
}

TEST(ProxyHeaderTest, V2RefusesWrongLengthsFamiliesAndOverrunningTlvs) {
  const std::pair<std::string, std::string> cases[] = {
      {V2(0x11, 0x11, kTcp4Addresses), "another version"},
      {V2(0x22, 0x11, kTcp4Addresses), "unknown command"},
      {V2(0x21, 0x12, kTcp4Addresses), "other than TCP"},  // UDP
      {V2(0x21, 0x41, kTcp4Addresses), "other than TCP"},  // no such family
      {V2(0x21, 0x11, kTcp4Addresses.substr(0, 11)), "shorter than its addresses"},
      {V2(0x21, 0x21, kTcp4Addresses), "shorter than its addresses"},
      {V2(0x21, 0x11, kTcp4Addresses + std::string("\x01\x00\x05h2", 5)), "overruns"},
      {V2(0x21, 0x11, kTcp4Addresses + std::string("\x01\x00", 2)), "cut short"},
  };
  for (const auto& [bytes, why] : cases) {
    ProxyHeaderReader reader;
    EXPECT_EQ(FeedAll(reader, bytes).result, Result::kError) << why;
    EXPECT_NE(reader.error().find(why), std::string::npos) << reader.error();
  }
  // A length past the bound is refused as soon as the fixed part is in.
  std::string huge = V2(0x21, 0x11, "").substr(0, 14) + "\x08\x01";
  ProxyHeaderReader reader;
  EXPECT_EQ(FeedAll(reader, huge).result, Result::kError);
  EXPECT_EQ(reader.error(), "a PROXY v2 header announcing 2049 bytes (at most 2048)");
  // A wrong signature byte.
  std::string wrong = V2(0x21, 0x11, kTcp4Addresses);
  wrong[6] = 'X';
  ProxyHeaderReader signature;
  EXPECT_EQ(FeedAll(signature, wrong).result, Result::kError);
}

TEST(ProxyHeaderTest, AfterTheVerdictNothingMoreIsRead) {
  ProxyHeaderReader reader;
  ASSERT_EQ(FeedAll(reader, "PROXY UNKNOWN\r\n").result, Result::kDone);
  const Fed again = FeedAll(reader, "MAIL FROM:<a@b>\r\n");
  EXPECT_EQ(again.result, Result::kDone);
  EXPECT_EQ(again.consumed, 0u);
}

}  // namespace
}  // namespace ringpost::net
