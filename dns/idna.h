// International domain names (IDNA): the A-label form ("xn--bcher-kva.example") that
// DNS and routing use for a domain written with U-labels ("bücher.example"), by UTS #46
// non-transitional processing (libidn2), as mail software does since IDNA 2008.
// Pure: no I/O, no state.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::dns {

// True when `domain` has a byte over 127 (a U-label to convert).
bool IsInternationalDomain(absl::string_view domain);

// The ASCII form of `domain` (UTF-8), lower-cased. An all-ASCII domain comes back as
// it is. InvalidArgument (naming why) for a name IDNA refuses.
absl::StatusOr<std::string> ToAsciiDomain(absl::string_view domain);

}  // namespace ringpost::dns
