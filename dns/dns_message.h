// DNS messages (RFC 1035 §4): the answer parser of our own, and the query builder.
//
// c-ares 1.18's MX parser returns no TTL and does not expose the SOA of a negative
// answer (RFC 2308 negative caching needs it), so the resolver takes c-ares' raw answer
// bytes and parses them here. Pure and bounded: a message of at most 64 KiB, at most
// kRecordsMax resource records, names of at most 255 bytes whose compression pointers
// must point strictly backwards (no loops), at most kRecordsPerTypeMax records of a
// kind kept. Anything malformed is an error, never a crash or a partial answer
// (fuzzed: tests/fuzz/dns_answer_fuzz.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::dns {

inline constexpr size_t kDnsMessageBytesMax = 65535;
inline constexpr size_t kRecordsMax = 1024;
inline constexpr size_t kRecordsPerTypeMax = 64;
inline constexpr size_t kNameBytesMax = 255;

enum class RecordType : uint16_t { kA = 1, kCname = 5, kSoa = 6, kMx = 15, kTxt = 16, kAaaa = 28 };

enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5
};

struct MxRecord {
  uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot; "" for the null MX "." (RFC 7505)
  uint32_t ttl = 0;
};

struct AddressRecord {
  std::string name;     // the owner (after CNAMEs, the target)
  std::string address;  // textual IPv4 or IPv6
  bool ipv6 = false;
  uint32_t ttl = 0;
  bool in_answer = false;  // false: glue from the additional section
};

struct CnameRecord {
  std::string name, target;
  uint32_t ttl = 0;
};

// A TXT record's character-strings joined (RFC 6376 §3.6.2.2: a DKIM key spans several).
struct TxtRecord {
  std::string text;
  uint32_t ttl = 0;
};

struct DnsAnswer {
  uint16_t id = 0;
  Rcode rcode = Rcode::kNoError;
  bool truncated = false;
  std::string question;  // lower case, no trailing dot
  uint16_t question_type = 0;
  std::vector<MxRecord> mx;
  std::vector<AddressRecord> addresses;
  std::vector<CnameRecord> cnames;
  std::vector<TxtRecord> txt;  // answer section only
  // RFC 2308 §5: a negative answer's TTL is the smaller of the SOA record's TTL and its
  // MINIMUM field, from the authority section.
  std::optional<uint32_t> negative_ttl;
};

absl::StatusOr<DnsAnswer> ParseDnsAnswer(absl::string_view message);

// The lowest TTL among the records that answer (for caching a positive answer).
uint32_t MinimumTtl(const DnsAnswer& answer);

}  // namespace ringpost::dns
