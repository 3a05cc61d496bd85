// The body of an admin request: one flat JSON object (RFC 8259) whose values are
// strings, numbers, booleans or null, e.g. {"domain":"example.com","duration":"1h"}.
// Pure. Values come back as text (a string decoded, a number as written, "true" or
// "false"; a null is left out). Refused: anything nested, a repeated key, more than
// kJsonFieldsMax fields, bytes that are not UTF-8, invalid escapes or lone surrogates,
// raw control characters, and anything after the object.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

inline constexpr size_t kJsonFieldsMax = 32;

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseFlatJsonObject(absl::string_view body);

}  // namespace ringpost::net
