#include "net/outbound/egress_sources.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/domain_name.h"

namespace ringpost::net {

absl::StatusOr<std::vector<EgressSource>> ParseEgressSources(absl::string_view flag) {
  std::vector<EgressSource> sources;
  for (absl::string_view entry : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t eq = entry.find('=');
    const size_t slash = entry.rfind('/');
    if (eq == absl::string_view::npos || slash == absl::string_view::npos || slash < eq) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", entry, "' is not NAME=ADDRESS/EHLO-NAME (a=192.0.2.1/mta-a.example.com)"));
    }
    EgressSource source;
    source.name = std::string(entry.substr(0, eq));
    if (source.name.empty() || source.name.size() > 64 ||
        source.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", source.name, "': a source name is letters, digits, -_."));
    }
    for (const EgressSource& other : sources) {
      if (other.name == source.name)
        return absl::InvalidArgumentError(absl::StrCat("source ", source.name, " named twice"));
    }
    const absl::string_view address = entry.substr(eq + 1, slash - eq - 1);
    // An address without a port: the socket address parser wants one.
    absl::StatusOr<core::SocketAddress> parsed = core::ParseSocketAddress(
        absl::StartsWith(address, "[") || address.find(':') == absl::string_view::npos
            ? absl::StrCat(address, ":0")
            : absl::StrCat("[", address, "]:0"));
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source.name, ": '", address, "' is not an IP address"));
    }
    source.address = *parsed;
    source.helo = std::string(entry.substr(slash + 1));
    if (!core::IsHostName(source.helo) || source.helo.find('.') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source.name, ": '", source.helo, "' is not a fully qualified name for EHLO"));
    }
    if (sources.size() == kEgressSourcesMax) {
      return absl::InvalidArgumentError(absl::StrCat("over ", kEgressSourcesMax, " sources"));
    }
    sources.push_back(std::move(source));
  }
  return sources;
}

absl::Status CheckEgressSourcesAreLocal(const std::vector<EgressSource>& sources) {
  for (const EgressSource& source : sources) {
    const int fd = socket(source.address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    const int bound = bind(fd, source.address.sockaddr_ptr(), source.address.length());
    const int error = errno;
    close(fd);
    if (bound != 0) {
      return absl::InvalidArgumentError(absl::StrCat(source.name, "=", source.address.HostString(),
                                                     ": not an address of this machine (",
                                                     std::strerror(error), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ringpost::net
