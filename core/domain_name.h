// Domain names as configuration and addresses compare them (RFC 5321 §2.4: case does
// not matter; a trailing dot names the same domain). Pure.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::core {

// Lower-cased, surrounding blanks and one trailing dot removed: "Example.COM." → "example.com".
std::string CanonicalDomain(absl::string_view domain);

// A host name as TLS names servers (RFC 6066 §3, RFC 1123 §2.1): dot-separated labels of
// letters, digits and inner hyphens, each 1-63 bytes, at most 253 in all, not an IPv4
// address. Names from the wire (SNI, MX targets) pass this before they are logged or sent.
bool IsHostName(absl::string_view name);

}  // namespace ringpost::core
