// Domain names as configuration and addresses compare them (RFC 5321 §2.4: case does
// not matter; a trailing dot names the same domain). Pure.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::core {

// Lower-cased, surrounding blanks and one trailing dot removed: "Example.COM." → "example.com".
std::string CanonicalDomain(absl::string_view domain);

}  // namespace ringpost::core
