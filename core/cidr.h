// Address ranges for access control (--relay_networks): "127.0.0.0/8,::1/128".
//
// Pure and bounded: at most 1024 ranges per list, each at most 64 characters. A bare
// address means a single host (/32 or /128). Host bits below the prefix must be zero
// ("10.1.2.3/8" is refused: an operator who wrote it probably meant something else).
// IPv4-mapped IPv6 clients (::ffff:a.b.c.d) match IPv4 ranges.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/socket_address.h"

namespace ringpost::core {

inline constexpr size_t kCidrTextBytesMax = 64;
inline constexpr size_t kCidrListMax = 1024;

struct Cidr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
  int prefix_bits = 0;
  std::string ToString() const;
};

absl::StatusOr<Cidr> ParseCidr(absl::string_view text);

class CidrSet {
 public:
  // Comma-separated; empty text is an empty set.
  static absl::StatusOr<CidrSet> Parse(absl::string_view text);
  bool Contains(const SocketAddress& address) const;
  size_t size() const { return ranges_.size(); }
  std::string ToString() const;

 private:
  std::vector<Cidr> ranges_;
};

}  // namespace ringpost::core
