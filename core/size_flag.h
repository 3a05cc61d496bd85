// A byte-size flag type that reads as the README writes sizes: "52428800", "100k",
// "50M", "64MiB", "1G". Suffixes are powers of 1024 (k/K/KB/KiB, M/MB/MiB, G/GB/GiB,
// T/TB/TiB), so the default message size limit 52428800 is written 50MiB.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::core {

struct FlagSize {
  uint64_t value = 0;
};

// Parses a whole number with an optional suffix. Bounded: at most 32 characters, at
// most 2^60 bytes. Returns false on anything else (fractions, signs, spaces, overflow).
bool ParseFlagSize(absl::string_view text, uint64_t* out);
// The largest suffix that states `bytes` exactly: 52428800 is "50MiB", 1000 is "1000".
std::string FormatFlagSize(uint64_t bytes);

// Abseil flag hooks (found by argument-dependent lookup).
bool AbslParseFlag(absl::string_view text, FlagSize* flag, std::string* error);
std::string AbslUnparseFlag(FlagSize flag);

}  // namespace ringpost::core
