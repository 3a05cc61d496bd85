// The --route_auth file: logins for next hops that want one (a provider's smarthost on
// port 587). One "host user password-file" per line, # comments: `host` is the next
// hop as --routes names it (a host name or an address, compared without case), the
// password is the first line of `password-file` (kept apart, so the table can be read
// by more people than the secret). Read once at start; immutable after, shared by every
// shard. The client logs in only under TLS (net/smtp/smtp_client.h).
#pragma once

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

struct RouteLogin {
  std::string user;
  std::string password;
};

class RouteAuth {
 public:
  static constexpr size_t kEntriesMax = 10000;

  // Reads the table and every password file it names; an error names the file and line.
  static absl::StatusOr<RouteAuth> Load(const std::string& path);

  // The login for a next hop named `host`, if the table has one.
  std::optional<RouteLogin> For(absl::string_view host) const;
  size_t size() const { return logins_.size(); }

 private:
  absl::flat_hash_map<std::string, RouteLogin> logins_;  // by lower-case host
};

}  // namespace ringpost::net
