#include "core/cidr.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ringpost::core {
namespace {

bool PrefixMatches(const uint8_t* a, const uint8_t* b, int bits) {
  const int whole = bits / 8;
  if (std::memcmp(a, b, static_cast<size_t>(whole)) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool HostBitsZero(const Cidr& c) {
  const int total = c.v6 ? 128 : 32;
  for (int bit = c.prefix_bits; bit < total; ++bit) {
    if (c.bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

}  // namespace

std::string Cidr::ToString() const {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof(text));
  return absl::StrCat(text, "/", prefix_bits);
}

absl::StatusOr<Cidr> ParseCidr(absl::string_view text) {
  if (text.empty() || text.size() > kCidrTextBytesMax) {
    return absl::InvalidArgumentError("a network must be 1 to 64 characters");
  }
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  Cidr c;
  if (inet_pton(AF_INET, address.c_str(), c.bytes.data()) == 1) {
    c.v6 = false;
  } else if (inet_pton(AF_INET6, address.c_str(), c.bytes.data()) == 1) {
    c.v6 = true;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("bad address in '", text, "'"));
  }
  const int total = c.v6 ? 128 : 32;
  c.prefix_bits = total;
  if (slash != absl::string_view::npos) {
    const absl::string_view bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(bits, &c.prefix_bits) || c.prefix_bits > total) {
      return absl::InvalidArgumentError(absl::StrCat("bad prefix length in '", text, "'"));
    }
  }
  if (!HostBitsZero(c)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' has host bits set below its prefix"));
  }
  return c;
}

absl::StatusOr<CidrSet> CidrSet::Parse(absl::string_view text) {
  CidrSet set;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    if (set.ranges_.size() == kCidrListMax) return absl::InvalidArgumentError("more than 1024 networks");
    absl::StatusOr<Cidr> c = ParseCidr(absl::StripAsciiWhitespace(part));
    if (!c.ok()) return c.status();
    set.ranges_.push_back(*c);
  }
  return set;
}

bool CidrSet::Contains(const SocketAddress& address) const {
  uint8_t bytes[16];
  bool v6 = false;
  if (address.family() == AF_INET) {
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in*>(address.sockaddr_ptr())->sin_addr, 4);
  } else if (address.family() == AF_INET6) {
    const auto* in6 = &reinterpret_cast<const sockaddr_in6*>(address.sockaddr_ptr())->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(in6)) {
      std::memcpy(bytes, in6->s6_addr + 12, 4);  // ::ffff:a.b.c.d is an IPv4 client
    } else {
      std::memcpy(bytes, in6->s6_addr, 16);
      v6 = true;
    }
  } else {
    return false;
  }
  for (const Cidr& c : ranges_) {
    if (c.v6 == v6 && PrefixMatches(bytes, c.bytes.data(), c.prefix_bits)) return true;
  }
  return false;
}

std::string CidrSet::ToString() const {
  std::vector<std::string> parts;
  for (const Cidr& c : ranges_) parts.push_back(c.ToString());
  return absl::StrJoin(parts, ",");
}

}  // namespace ringpost::core
