// Egress at both ends: --egress_sources (parsed, and refused when an address is not
// this machine's), and the X-Ringpost-Pool: field read and removed as a message is
// stored, however the bytes arrive.
#include "gtest/gtest.h"
#include "net/inbound/pool_header.h"
#include "net/outbound/egress_sources.h"

namespace ringpost::net {
namespace {

TEST(EgressSourcesTest, ParsesNamesAddressesAndEhloNames) {
  absl::StatusOr<std::vector<EgressSource>> sources =
      ParseEgressSources("a=127.0.0.2/mta-a.example.com, b=[::1]/mta-b.example.com,c=::1/mta-c.example.com");
  ASSERT_TRUE(sources.ok()) << sources.status();
  ASSERT_EQ(sources->size(), 3u);
  EXPECT_EQ((*sources)[0].name, "a");
  EXPECT_EQ((*sources)[0].address.ToString(), "127.0.0.2:0");
  EXPECT_EQ((*sources)[0].helo, "mta-a.example.com");
  EXPECT_EQ((*sources)[1].address.ToString(), "[::1]:0");
  EXPECT_EQ((*sources)[2].address.ToString(), "[::1]:0");
  EXPECT_TRUE(ParseEgressSources("")->empty());
}

TEST(EgressSourcesTest, MistakesAreNamed) {
  EXPECT_EQ(ParseEgressSources("a=127.0.0.2").status().message(),
            "'a=127.0.0.2' is not NAME=ADDRESS/EHLO-NAME (a=192.0.2.1/mta-a.example.com)");
  EXPECT_EQ(ParseEgressSources("a=mail.example/mta.example.com").status().message(),
            "a: 'mail.example' is not an IP address");
  EXPECT_EQ(ParseEgressSources("a=127.0.0.2/localhost").status().message(),
            "a: 'localhost' is not a fully qualified name for EHLO");
  EXPECT_EQ(ParseEgressSources("a=127.0.0.2/a.example.com,a=127.0.0.3/b.example.com").status().message(),
            "source a named twice");
  EXPECT_FALSE(ParseEgressSources("a b=127.0.0.2/a.example.com").ok());
}

TEST(EgressSourcesTest, AnAddressThatIsNotThisMachinesIsRefused) {
  absl::StatusOr<std::vector<EgressSource>> local = ParseEgressSources("a=127.0.0.2/a.example.com");
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(CheckEgressSourcesAreLocal(*local).ok());
  // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): on no machine's interface.
  absl::StatusOr<std::vector<EgressSource>> foreign =
      ParseEgressSources("a=127.0.0.2/a.example.com,far=192.0.2.9/far.example.com");
  ASSERT_TRUE(foreign.ok());
  const absl::Status status = CheckEgressSourcesAreLocal(*foreign);
  EXPECT_EQ(status.message(),
            "far=192.0.2.9: not an address of this machine (Cannot assign requested address)");
}

// Feeds `message` in pieces of `step` bytes and returns what was stored.
std::string Filtered(PoolHeader& filter, const std::string& message, size_t step) {
  std::string stored;
  const PoolHeader::Store store = [&stored](absl::Span<const absl::string_view> pieces) {
    for (absl::string_view piece : pieces) stored.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  filter.Begin();
  for (size_t at = 0; at < message.size(); at += step) {
    const absl::string_view piece = absl::string_view(message).substr(at, step);
    EXPECT_TRUE(filter.Append({piece}, store).ok());
  }
  EXPECT_TRUE(filter.Finish(store).ok());
  return stored;
}

TEST(PoolHeaderTest, TheFieldIsReadAndRemovedWhereverThePiecesBreak) {
  const std::string message =
      "Received: from a by b\r\n"
      "X-Ringpost-Pool: bulk\r\n"
      "Subject: hi\r\n"
      "x-ringpost-pool:\r\n other\r\n"
      "\r\n"
      "X-Ringpost-Pool: in the body stays\r\n";
  const std::string expected =
      "Received: from a by b\r\n"
      "Subject: hi\r\n"
      "\r\n"
      "X-Ringpost-Pool: in the body stays\r\n";
  for (size_t step : {size_t{1}, size_t{7}, size_t{64}, message.size()}) {
    PoolHeader filter;
    EXPECT_EQ(Filtered(filter, message, step), expected) << "step " << step;
    EXPECT_EQ(filter.requested(), "bulk");  // the first field
    EXPECT_EQ(filter.removed(), 2);
    EXPECT_EQ(filter.removed_bytes(), message.size() - expected.size());
  }
}

TEST(PoolHeaderTest, AMessageThatIsAllHeaderLosesItsLastFieldToo) {
  // No blank line ends the section: the last field ends with the data.
  for (const std::string& ending : {std::string("\r\n"), std::string("")}) {
    const std::string message = "Subject: x\r\nX-Ringpost-Pool: bulk" + ending;
    for (size_t step : {size_t{1}, size_t{5}, message.size()}) {
      PoolHeader filter;
      EXPECT_EQ(Filtered(filter, message, step), "Subject: x\r\n") << "step " << step;
      EXPECT_EQ(filter.requested(), "bulk");
      EXPECT_EQ(filter.removed(), 1);
      EXPECT_EQ(filter.removed_bytes(), message.size() - 12);
    }
  }
}

TEST(PoolHeaderTest, AMessageWithoutTheFieldPassesUnchanged) {
  for (const std::string& message :
       {std::string("Subject: x\r\n\r\nbody\r\n"), std::string("Subject: all header\r\n"), std::string(""),
        std::string("\r\nbody only\r\n")}) {
    PoolHeader filter;
    EXPECT_EQ(Filtered(filter, message, 3), message);
    EXPECT_EQ(filter.requested(), "");
    EXPECT_EQ(filter.removed(), 0);
  }
}

TEST(PoolHeaderTest, AnOversizedHeaderSectionPassesWholeAndNamesNoPool) {
  std::string message = "X-Ringpost-Pool: bulk\r\n";
  while (message.size() < (300u << 10)) message += "X-Filler: 0123456789012345678901234567890123456789\r\n";
  message += "\r\nbody\r\n";
  PoolHeader filter;
  EXPECT_EQ(Filtered(filter, message, 4096), message);
  EXPECT_EQ(filter.requested(), "");
}

}  // namespace
}  // namespace ringpost::net
