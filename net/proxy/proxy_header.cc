#include "net/proxy/proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ringpost::net {
namespace {

constexpr absl::string_view kV1Prefix = "PROXY ";
constexpr char kV2SignatureBytes[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr absl::string_view kV2Signature(kV2SignatureBytes, 12);

// v2's family/transport byte (the specification's values).
constexpr uint8_t kUnspec = 0x00, kTcp4 = 0x11, kTcp6 = 0x21, kUnixStream = 0x31;
constexpr size_t kTcp4Bytes = 12, kTcp6Bytes = 36, kUnixBytes = 216;

bool ParsePort(absl::string_view text, uint16_t* port) {
  uint32_t value = 0;
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  if (!absl::SimpleAtoi(text, &value) || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

// An address from network-order bytes (4 or 16 of them) and its 2-byte port.
core::SocketAddress RawAddress(int family, const char* address, const char* port) {
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    std::memcpy(&a.sin_addr, address, 4);
    std::memcpy(&a.sin_port, port, 2);
    return core::SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  }
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  std::memcpy(&a.sin6_addr, address, 16);
  std::memcpy(&a.sin6_port, port, 2);
  return core::SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&a), sizeof(a));
}

bool ParseV1Address(absl::string_view text, bool v6, absl::string_view port_text, core::SocketAddress* out) {
  uint16_t port = 0;
  if (!ParsePort(port_text, &port) || text.size() > 45) return false;
  unsigned char address[16];
  const int family = v6 ? AF_INET6 : AF_INET;
  if (inet_pton(family, std::string(text).c_str(), address) != 1) return false;
  const uint16_t network_port = htons(port);
  *out = RawAddress(family, reinterpret_cast<const char*>(address), reinterpret_cast<const char*>(&network_port));
  return true;
}

uint16_t Be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

}  // namespace

ProxyHeaderReader::Result ProxyHeaderReader::Fail(std::string why) {
  error_ = std::move(why);
  return result_ = Result::kError;
}

ProxyHeaderReader::Result ProxyHeaderReader::Feed(absl::string_view input, size_t* consumed) {
  *consumed = 0;
  while (result_ == Result::kNeedMore && *consumed < input.size()) {
    const char c = input[*consumed];
    if (buffer_.empty() && c != 'P' && c != '\r')
      return Fail("the connection did not start with a PROXY header");
    buffer_.push_back(c);
    ++*consumed;
    if (buffer_[0] == 'P') {  // v1: up to CRLF, the prefix checked as it arrives
      const size_t n = std::min(buffer_.size(), kV1Prefix.size());
      if (absl::string_view(buffer_).substr(0, n) != kV1Prefix.substr(0, n))
        return Fail("not a PROXY header");
      if (c == '\n') return FinishV1();
      if (buffer_.size() >= kV1BytesMax) return Fail("a PROXY v1 header longer than 107 bytes");
      continue;
    }
    // v2: the signature, then the fixed part says how much follows.
    const size_t n = std::min(buffer_.size(), kV2Signature.size());
    if (absl::string_view(buffer_).substr(0, n) != kV2Signature.substr(0, n))
      return Fail("not a PROXY header");
    if (buffer_.size() == kV2FixedBytes) {
      const size_t payload = Be16(buffer_.data() + 14);
      if (payload > kV2PayloadBytesMax) {
        return Fail(absl::StrCat("a PROXY v2 header announcing ", payload, " bytes (at most ",
                                 kV2PayloadBytesMax, ")"));
      }
      needed_ = kV2FixedBytes + payload;
    }
    if (needed_ != 0 && buffer_.size() == needed_) return FinishV2();
  }
  return result_;
}

ProxyHeaderReader::Result ProxyHeaderReader::FinishV1() {
  header_.version = 1;
  if (buffer_.size() < 2 || buffer_[buffer_.size() - 2] != '\r')
    return Fail("a PROXY v1 header without CRLF");
  const absl::string_view line = absl::string_view(buffer_).substr(0, buffer_.size() - 2);
  const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
  if (fields.size() >= 2 && fields[1] == "UNKNOWN") {  // the rest is to be ignored
    header_.use_socket = true;
    return result_ = Result::kDone;
  }
  if (fields.size() != 6 || (fields[1] != "TCP4" && fields[1] != "TCP6")) {
    return Fail("a PROXY v1 header is PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT");
  }
  const bool v6 = fields[1] == "TCP6";
  if (!ParseV1Address(fields[2], v6, fields[4], &header_.source) ||
      !ParseV1Address(fields[3], v6, fields[5], &header_.destination)) {
    return Fail(absl::StrCat("a PROXY v1 header with an address or port that is not ", v6 ? "IPv6" : "IPv4"));
  }
  return result_ = Result::kDone;
}

ProxyHeaderReader::Result ProxyHeaderReader::FinishV2() {
  header_.version = 2;
  const uint8_t version_command = static_cast<uint8_t>(buffer_[12]);
  const uint8_t family = static_cast<uint8_t>(buffer_[13]);
  if ((version_command >> 4) != 2) return Fail("a PROXY v2 header of another version");
  const uint8_t command = version_command & 0x0f;
  if (command > 1) return Fail("a PROXY v2 header with an unknown command");
  const absl::string_view payload = absl::string_view(buffer_).substr(kV2FixedBytes);
  if (command == 0) {  // LOCAL: the balancer's own connection (a health check)
    header_.use_socket = true;
    return result_ = Result::kDone;
  }
  size_t addresses = 0;
  switch (family) {
    case kUnspec:
      break;
    case kTcp4:
      addresses = kTcp4Bytes;
      break;
    case kTcp6:
      addresses = kTcp6Bytes;
      break;
    case kUnixStream:
      addresses = kUnixBytes;
      break;
    default:
      return Fail("a PROXY v2 header for a family or transport other than TCP");
  }
  if (payload.size() < addresses) return Fail("a PROXY v2 header shorter than its addresses");
  // The TLVs after the addresses must fill the rest exactly.
  for (size_t at = addresses; at < payload.size();) {
    if (payload.size() - at < 3) return Fail("a PROXY v2 TLV cut short");
    const size_t length = Be16(payload.data() + at + 1);
    if (length > payload.size() - at - 3) return Fail("a PROXY v2 TLV overruns the header");
    at += 3 + length;
  }
  if (family == kTcp4 || family == kTcp6) {
    // source address, destination address, source port, destination port
    const int af = family == kTcp4 ? AF_INET : AF_INET6;
    const size_t n = family == kTcp4 ? 4 : 16;
    header_.source = RawAddress(af, payload.data(), payload.data() + 2 * n);
    header_.destination = RawAddress(af, payload.data() + n, payload.data() + 2 * n + 2);
  } else {
    header_.use_socket = true;  // no address of ours to use: an unspecified or Unix family
  }
  return result_ = Result::kDone;
}

}  // namespace ringpost::net
