#include "core/socket_address.h"
#include "absl/strings/string_view.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/check.h"

namespace ringpost::core {

SocketAddress SocketAddress::FromSockaddr(const sockaddr* address, socklen_t length) {
  SocketAddress result;
  RP_CHECK_LE(length, sizeof(result.storage_));
  std::memcpy(&result.storage_, address, length);
  result.length_ = length;
  return result;
}

bool SocketAddress::IsLoopback() const {
  if (family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage_);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  return false;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

std::string SocketAddress::HostString() const {
  char text[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text, sizeof(text));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text, sizeof(text));
  }
  return text;
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET6) return absl::StrCat("[", HostString(), "]:", port());
  return absl::StrCat(HostString(), ":", port());
}

absl::StatusOr<SocketAddress> ParseSocketAddress(absl::string_view text) {
  if (text.empty() || text.size() > kSocketAddressTextBytesMax) {
    return absl::InvalidArgumentError("an address must be 1 to 64 characters");
  }
  std::string host;
  absl::string_view port_text;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("expected [IPv6]:PORT, got '", text, "'"));
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat("expected ADDR:PORT or [IPv6]:PORT, got '", text, "'"));
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", text, "'"));
  }
  sockaddr_storage storage{};
  if (text.front() == '[') {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad IPv6 address in '", text, "'"));
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(v6), sizeof(sockaddr_in6));
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad IPv4 address in '", text, "'"));
  }
  v4->sin_family = AF_INET;
  v4->sin_port = htons(static_cast<uint16_t>(port));
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(v4), sizeof(sockaddr_in));
}

absl::StatusOr<std::vector<SocketAddress>> ParseSocketAddressList(absl::string_view text) {
  std::vector<SocketAddress> result;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    if (result.size() == kSocketAddressListMax) {
      return absl::InvalidArgumentError("more than 64 addresses");
    }
    auto address = ParseSocketAddress(part);
    if (!address.ok()) return address.status();
    result.push_back(*address);
  }
  return result;
}

}  // namespace ringpost::core
