// A duration flag type that also understands days: "30s", "5m", "4h", "5d", "1d12h",
// "250ms". absl::Duration's parser has no "d", and queue lifetimes are written in days.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/time/time.h"

namespace ringpost::core {

struct FlagDuration {
  absl::Duration value = absl::ZeroDuration();
};

// Parses a non-negative sum of <number><unit> terms, unit one of ms, s, m, h, d.
// Bounded: at most 64 characters, at most 100 years. Returns false on anything else.
bool ParseFlagDuration(absl::string_view text, absl::Duration* out);
std::string FormatFlagDuration(absl::Duration value);

// Abseil flag hooks (found by argument-dependent lookup).
bool AbslParseFlag(absl::string_view text, FlagDuration* flag, std::string* error);
std::string AbslUnparseFlag(FlagDuration flag);

}  // namespace ringpost::core
