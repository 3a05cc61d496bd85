// The DNS answer parser (RFC 1035 §4, RFC 2308 §5, RFC 7505) and the MX plan (RFC 5321
// §5.1), on messages built byte by byte here.
#include "dns/dns_message.h"

#include <string>

#include "dns/mx_plan.h"
#include "dns/route_cache.h"
#include "gtest/gtest.h"

namespace ringpost::dns {
namespace {

// A DNS response, written the way a server would (names uncompressed unless asked).
class MessageBuilder {
 public:
  MessageBuilder(uint16_t flags, absl::string_view question, uint16_t qtype) {
    U16(0x1234);
    U16(flags);
    U16(1);
    counts_at_ = bytes_.size();
    U16(0);
    U16(0);
    U16(0);
    question_at_ = bytes_.size();
    Name(question);
    U16(qtype);
    U16(1);
  }
  // section: 0 answer, 1 authority, 2 additional.
  MessageBuilder& Record(int section, absl::string_view owner, uint16_t type, uint32_t ttl,
                         const std::string& rdata) {
    return RecordWithOwner(section, EncodedName(owner), type, ttl, rdata);
  }
  // An answer record whose owner is a compression pointer to the question's name.
  MessageBuilder& RecordAtQuestion(uint16_t type, uint32_t ttl, const std::string& rdata) {
    const std::string pointer = {static_cast<char>(0xC0 | (question_at_ >> 8)),
                                 static_cast<char>(question_at_ & 0xFF)};
    return RecordWithOwner(0, pointer, type, ttl, rdata);
  }
  static std::string EncodedName(absl::string_view name) {
    std::string out;
    while (!name.empty()) {
      const size_t dot = name.find('.');
      const absl::string_view label = name.substr(0, dot);
      out += static_cast<char>(label.size());
      out.append(label.data(), label.size());
      if (dot == absl::string_view::npos) break;
      name.remove_prefix(dot + 1);
    }
    out += '\0';
    return out;
  }
  static std::string Mx(uint16_t preference, absl::string_view exchange) {
    std::string out;
    out += static_cast<char>(preference >> 8);
    out += static_cast<char>(preference);
    return out + (exchange == "." ? std::string(1, '\0') : EncodedName(exchange));
  }
  static std::string Soa(uint32_t minimum) {
    std::string out = EncodedName("ns.example") + EncodedName("admin.example");
    for (uint32_t v : {1u, 2u, 3u, 4u, minimum}) {
      for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift);
    }
    return out;
  }
  const std::string& bytes() const { return bytes_; }
  std::string& mutable_bytes() { return bytes_; }

 private:
  void U16(uint16_t v) {
    bytes_ += static_cast<char>(v >> 8);
    bytes_ += static_cast<char>(v);
  }
  void Name(absl::string_view name) { bytes_ += EncodedName(name); }
  MessageBuilder& RecordWithOwner(int section, const std::string& owner, uint16_t type, uint32_t ttl,
                                  const std::string& rdata) {
    bytes_ += owner;
    U16(type);
    U16(1);
    U16(static_cast<uint16_t>(ttl >> 16));
    U16(static_cast<uint16_t>(ttl));
    U16(static_cast<uint16_t>(rdata.size()));
    bytes_ += rdata;
    const size_t at = counts_at_ + 2 * static_cast<size_t>(section);  // ANCOUNT, NSCOUNT, ARCOUNT
    const uint16_t count = static_cast<uint16_t>(
        (static_cast<uint8_t>(bytes_[at]) << 8 | static_cast<uint8_t>(bytes_[at + 1])) + 1);
    bytes_[at] = static_cast<char>(count >> 8);
    bytes_[at + 1] = static_cast<char>(count);
    return *this;
  }
  std::string bytes_;
  size_t counts_at_ = 0;
  size_t question_at_ = 0;
};

constexpr uint16_t kResponse = 0x8180;  // QR, RD, RA, NOERROR

TEST(ParseDnsAnswer, MxRecordsWithTtlsAndCompressedNames) {
  MessageBuilder m(kResponse, "Example.COM", 15);
  m.RecordAtQuestion(15, 300, MessageBuilder::Mx(10, "mx1.example.com"));
  m.RecordAtQuestion(15, 120, MessageBuilder::Mx(20, "mx2.example.com"));
  m.Record(2, "mx1.example.com", 1, 60, std::string("\x7f\x00\x00\x02", 4));
  auto answer = ParseDnsAnswer(m.bytes());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->id, 0x1234);
  EXPECT_EQ(answer->question, "example.com");
  ASSERT_EQ(answer->mx.size(), 2u);
  EXPECT_EQ(answer->mx[0].preference, 10);
  EXPECT_EQ(answer->mx[0].exchange, "mx1.example.com");
  EXPECT_EQ(answer->mx[0].ttl, 300u);
  ASSERT_EQ(answer->addresses.size(), 1u);  // glue from the additional section
  EXPECT_EQ(answer->addresses[0].address, "127.0.0.2");
  EXPECT_FALSE(answer->addresses[0].in_answer);  // glue: never taken as the answer to an A query
  EXPECT_EQ(MinimumTtl(*answer), 60u);
}

// RFC 1035 §3.3.14: TXT-DATA is one or more <character-string>s; RFC 6376 §3.6.2.2: a
// DKIM key longer than 255 octets spans several, which are joined without separators.
TEST(ParseDnsAnswer, TxtStringsAreJoined) {
  MessageBuilder m(kResponse, "s1._domainkey.example", 16);
  const std::string long_part(255, 'A');
  m.RecordAtQuestion(16, 3600,
                     std::string("\x0a") + "v=DKIM1; p" + static_cast<char>(255) + long_part + "\x02==");
  auto answer = ParseDnsAnswer(m.bytes());
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->txt.size(), 1u);
  EXPECT_EQ(answer->txt[0].text, "v=DKIM1; p" + long_part + "==");
  EXPECT_EQ(answer->txt[0].ttl, 3600u);
  EXPECT_EQ(MinimumTtl(*answer), 3600u);
  // A string whose length runs past the record is malformed, not read past.
  MessageBuilder bad(kResponse, "s1._domainkey.example", 16);
  bad.RecordAtQuestion(16, 60, std::string("\x09short"));
  EXPECT_FALSE(ParseDnsAnswer(bad.bytes()).ok());
}

TEST(ParseDnsAnswer, AddressesAndCnames) {
  MessageBuilder m(kResponse, "www.example", 28);
  m.Record(0, "www.example", 5, 50, MessageBuilder::EncodedName("host.example"));
  m.Record(0, "host.example", 28, 40, std::string(15, '\0') + '\x01');
  auto answer = ParseDnsAnswer(m.bytes());
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->cnames.size(), 1u);
  EXPECT_EQ(answer->cnames[0].target, "host.example");
  ASSERT_EQ(answer->addresses.size(), 1u);
  EXPECT_TRUE(answer->addresses[0].ipv6);
  EXPECT_EQ(answer->addresses[0].address, "::1");
  EXPECT_EQ(answer->addresses[0].name, "host.example");
}

TEST(ParseDnsAnswer, NegativeAnswersCarryTheSoaTtl) {
  // RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM).
  MessageBuilder nx(0x8183, "gone.example", 15);  // NXDOMAIN
  nx.Record(1, "example", 6, 900, MessageBuilder::Soa(60));
  auto answer = ParseDnsAnswer(nx.bytes());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->rcode, Rcode::kNxDomain);
  EXPECT_EQ(answer->negative_ttl, 60u);
  MessageBuilder nodata(kResponse, "a.example", 15);
  nodata.Record(1, "example", 6, 30, MessageBuilder::Soa(3600));
  answer = ParseDnsAnswer(nodata.bytes());
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->mx.empty());
  EXPECT_EQ(answer->negative_ttl, 30u);
}

TEST(ParseDnsAnswer, NullMxIsAnEmptyExchange) {
  MessageBuilder m(kResponse, "nomail.example", 15);
  m.Record(0, "nomail.example", 15, 300, MessageBuilder::Mx(0, "."));
  auto answer = ParseDnsAnswer(m.bytes());
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->mx.size(), 1u);
  EXPECT_EQ(answer->mx[0].exchange, "");
}

TEST(ParseDnsAnswer, HostileMessagesAreErrors) {
  MessageBuilder good(kResponse, "x.example", 15);
  good.Record(0, "x.example", 15, 300, MessageBuilder::Mx(10, "mx.example"));
  const std::string bytes = good.bytes();
  // Every truncation is an error, never a partial answer.
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(ParseDnsAnswer(bytes.substr(0, n)).ok()) << n;
  EXPECT_FALSE(ParseDnsAnswer(bytes + "x").ok());  // trailing bytes
  // A compression pointer to itself (a loop) and one pointing forwards.
  std::string loop = bytes;
  const size_t owner = loop.size() - (MessageBuilder::EncodedName("x.example").size() + 10 + 2 +
                                      MessageBuilder::EncodedName("mx.example").size());
  loop[owner] = static_cast<char>(0xC0 | (owner >> 8));
  loop[owner + 1] = static_cast<char>(owner & 0xFF);
  EXPECT_FALSE(ParseDnsAnswer(loop).ok());
  // A query (QR clear) is not an answer.
  std::string query = bytes;
  query[2] = 0x01;
  EXPECT_FALSE(ParseDnsAnswer(query).ok());
  // A 64-label name longer than 255 bytes.
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abcd.";
  long_name += "example";
  MessageBuilder too_long(kResponse, long_name, 15);
  EXPECT_FALSE(ParseDnsAnswer(too_long.bytes()).ok());
}

std::function<uint64_t(uint64_t)> FirstChoice() {
  return [](uint64_t) { return uint64_t{0}; };
}

TEST(PlanMx, PreferenceOrderAndRandomAmongEquals) {
  // RFC 5321 §5.1: lowest preference first; equal preferences in random order.
  const std::vector<MxRecord> records = {{20, "c.example", 1}, {10, "a.example", 1}, {10, "b.example", 1}};
  auto never_self = [](const std::string&) { return false; };
  bool saw_a_first = false, saw_b_first = false;
  uint64_t state = 1;
  for (int i = 0; i < 64; ++i) {
    MxPlan plan = PlanMx(records, never_self, [&](uint64_t n) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return (state >> 33) % n;
    });
    ASSERT_EQ(plan.kind, MxPlan::Kind::kHosts);
    ASSERT_EQ(plan.hosts.size(), 3u);
    EXPECT_EQ(plan.hosts[2], "c.example");
    saw_a_first |= plan.hosts[0] == "a.example";
    saw_b_first |= plan.hosts[0] == "b.example";
  }
  EXPECT_TRUE(saw_a_first && saw_b_first);
}

TEST(PlanMx, NullMxImplicitMxAndSelf) {
  auto never_self = [](const std::string&) { return false; };
  EXPECT_EQ(PlanMx({}, never_self, FirstChoice()).kind, MxPlan::Kind::kImplicit);
  EXPECT_EQ(PlanMx({{0, "", 1}}, never_self, FirstChoice()).kind, MxPlan::Kind::kNullMx);  // RFC 7505
  // An MX list naming this host: only more preferred hosts (RFC 5321 §5.1).
  auto self = [](const std::string& name) { return name == "me.example"; };
  MxPlan plan =
      PlanMx({{10, "up.example", 1}, {20, "me.example", 1}, {30, "down.example", 1}}, self, FirstChoice());
  ASSERT_EQ(plan.kind, MxPlan::Kind::kHosts);
  EXPECT_EQ(plan.hosts, std::vector<std::string>{"up.example"});
  EXPECT_EQ(PlanMx({{10, "me.example", 1}, {20, "other.example", 1}}, self, FirstChoice()).kind,
            MxPlan::Kind::kOnlySelf);
}

TEST(ExpiringCache, EntriesLiveUntilTheirExpiry) {
  ExpiringCache<int> cache;
  cache.Put("a.example", 1, /*expires=*/100, /*now=*/0);
  ASSERT_NE(cache.Find("a.example", 99), nullptr);
  EXPECT_EQ(*cache.Find("a.example", 99), 1);
  EXPECT_EQ(cache.Find("a.example", 100), nullptr);  // expired: gone
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Find("b.example", 0), nullptr);
}

}  // namespace
}  // namespace ringpost::dns
