// Domain names as configuration and addresses compare them (RFC 5321 §2.4: case does
// not matter; a trailing dot names the same domain). Pure.
#pragma once

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::core {

// Lower-cased, surrounding blanks and one trailing dot removed: "Example.COM." → "example.com".
std::string CanonicalDomain(absl::string_view domain);

// A host name as TLS names servers (RFC 6066 §3, RFC 1123 §2.1): dot-separated labels of
// letters, digits and inner hyphens, each 1-63 bytes, at most 253 in all, not an IPv4
// address. Names from the wire (SNI, MX targets) pass this before they are logged or sent.
bool IsHostName(absl::string_view name);

// Domains from a comma-separated flag (--local_domains, --relay_domains), compared in
// canonical form. Immutable after Parse; shared read-only by every shard.
class DomainSet {
 public:
  // `flag` names the flag in errors.
  static absl::StatusOr<DomainSet> Parse(absl::string_view flag, absl::string_view text);
  bool Contains(absl::string_view domain) const {
    return !domains_.empty() && domains_.contains(CanonicalDomain(domain));
  }
  bool empty() const { return domains_.empty(); }
  size_t size() const { return domains_.size(); }

 private:
  absl::flat_hash_set<std::string> domains_;
};

}  // namespace ringpost::core
