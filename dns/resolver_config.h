// Which DNS servers to ask: --dns_servers when given, else the nameserver lines of
// /etc/resolv.conf (RFC-less but universal format; see resolv.conf(5)).
//
// Parsing is bounded (a 64 KiB file, at most 16 servers, lines of at most 1024
// bytes) because the file is input like any other.
#pragma once

#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "core/socket_address.h"

namespace ringpost::dns {

inline constexpr size_t kResolverServersMax = 16;
inline constexpr uint16_t kDnsPort = 53;

// "IP:PORT,..." (IPv6 as [v6]:port); a bare IP means port 53.
absl::StatusOr<std::vector<core::SocketAddress>> ParseDnsServers(absl::string_view text);
// The nameserver lines of a resolv.conf text.
std::vector<core::SocketAddress> ParseResolvConf(absl::string_view text);
// --dns_servers if non-empty, else /etc/resolv.conf (`resolv_conf_path`).
absl::StatusOr<std::vector<core::SocketAddress>> ResolveDnsServers(absl::string_view flag_value,
                                                                   const std::string& resolv_conf_path);

}  // namespace ringpost::dns
