// The SASL pieces of SMTP AUTH (RFC 4954) for the PLAIN (RFC 4616) and LOGIN
// mechanisms: strict base64 and the PLAIN message. Pure; bounded by the line that
// carried the response.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

// Longest user name and password taken (a longer one is refused, never cut).
inline constexpr size_t kSaslFieldBytesMax = 255;

// Strict base64 (RFC 4648 §4, as RFC 4954 §4 requires): the alphabet, padding only at
// the end, a length that is a multiple of 4. "=" alone is an empty response.
absl::StatusOr<std::string> DecodeSaslBase64(absl::string_view text);
std::string EncodeSaslBase64(absl::string_view bytes);

struct SaslCredentials {
  std::string user;
  std::string password;
};

// RFC 4616 §2: [authzid] NUL authcid NUL passwd. An authorization identity other than
// the user itself is refused (no one may act as another here); neither field may be
// empty, hold a NUL or exceed kSaslFieldBytesMax.
absl::StatusOr<SaslCredentials> ParseSaslPlain(absl::string_view message);

// A LOGIN field (the user name or the password, one base64 line each): the same limits.
absl::Status CheckSaslField(absl::string_view field);

}  // namespace ringpost::net
