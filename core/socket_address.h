// IPv4/IPv6 socket addresses and the "ADDR:PORT" / "[v6]:PORT" syntax of --listen.
//
// The parser is bounded (an address of at most 64 characters, a list of at most 64
// addresses) and fuzzed (tests/fuzz/socket_address_fuzz.cc): flag values are input too.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace ringpost::core {

class SocketAddress {
 public:
  SocketAddress() = default;
  static SocketAddress FromSockaddr(const sockaddr* address, socklen_t length);

  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  void set_port(uint16_t port);
  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* mutable_sockaddr_ptr() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  // "127.0.0.1:25" or "[::1]:25": the same syntax the parser takes.
  std::string ToString() const;
  // 127.0.0.0/8 or ::1.
  bool IsLoopback() const;
  // The address without the port ("127.0.0.1", "::1").
  std::string HostString() const;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

inline constexpr size_t kSocketAddressTextBytesMax = 64;
inline constexpr size_t kSocketAddressListMax = 64;

// "1.2.3.4:25" or "[::1]:25". The port must be 0..65535 (0: pick one).
absl::StatusOr<SocketAddress> ParseSocketAddress(absl::string_view text);
// Comma-separated, at least one.
absl::StatusOr<std::vector<SocketAddress>> ParseSocketAddressList(absl::string_view text);

}  // namespace ringpost::core
