// The line files the daemon's flags name (--local_recipients, --auth_users,
// --route_auth): one item per line, surrounding whitespace ignored, blank lines and
// lines starting with # skipped.
#pragma once

#include <cstddef>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ringpost::core {

// Calls `item` for each line that is not blank or a comment, with its 1-based number;
// the first error `item` returns ends the reading and is returned. A file that cannot
// be read gives NotFound "FLAG: cannot read PATH".
absl::Status ForEachConfigLine(const std::string& path, absl::string_view flag,
                               absl::FunctionRef<absl::Status(absl::string_view item, size_t line)> item);

}  // namespace ringpost::core
