#include "dns/resolver_config.h"
#include "absl/strings/string_view.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ringpost::dns {
namespace {

constexpr size_t kResolvConfBytesMax = 64 * 1024;
constexpr size_t kLineBytesMax = 1024;

absl::StatusOr<core::SocketAddress> ParseServer(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (!text.empty() && (text.front() == '[' || text.find(':') == text.rfind(':')) &&
      text.find(':') != absl::string_view::npos) {
    return core::ParseSocketAddress(text);  // "1.2.3.4:53" or "[::1]:53"
  }
  // A bare address: IPv4 or IPv6 without brackets, port 53.
  const bool v6 = text.find(':') != absl::string_view::npos;
  return core::ParseSocketAddress(v6 ? absl::StrCat("[", text, "]:", kDnsPort)
                                     : absl::StrCat(text, ":", kDnsPort));
}

}  // namespace

absl::StatusOr<std::vector<core::SocketAddress>> ParseDnsServers(absl::string_view text) {
  std::vector<core::SocketAddress> servers;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    if (servers.size() == kResolverServersMax) {
      return absl::InvalidArgumentError("more than 16 DNS servers");
    }
    absl::StatusOr<core::SocketAddress> server = ParseServer(part);
    if (!server.ok()) return server.status();
    servers.push_back(*server);
  }
  if (servers.empty()) return absl::InvalidArgumentError("no DNS server given");
  return servers;
}

std::vector<core::SocketAddress> ParseResolvConf(absl::string_view text) {
  std::vector<core::SocketAddress> servers;
  text = text.substr(0, kResolvConfBytesMax);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.size() > kLineBytesMax || servers.size() == kResolverServersMax) continue;
    std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.size() < 2 || words[0] != "nameserver") continue;
    absl::string_view address = words[1];
    const size_t zone = address.find('%');  // fe80::1%eth0: the zone is not ours to use
    if (zone != absl::string_view::npos) continue;
    absl::StatusOr<core::SocketAddress> server = ParseServer(address);
    if (server.ok()) servers.push_back(*server);
  }
  return servers;
}

absl::StatusOr<std::vector<core::SocketAddress>> ResolveDnsServers(absl::string_view flag_value,
                                                                   const std::string& resolv_conf_path) {
  if (!flag_value.empty()) return ParseDnsServers(flag_value);
  std::ifstream file(resolv_conf_path);
  std::ostringstream text;
  if (file) text << file.rdbuf();
  std::vector<core::SocketAddress> servers = ParseResolvConf(text.str());
  if (servers.empty()) {
    // resolv.conf(5): with no nameserver line the resolver asks the local machine.
    servers.push_back(*core::ParseSocketAddress("127.0.0.1:53"));
  }
  return servers;
}

}  // namespace ringpost::dns
