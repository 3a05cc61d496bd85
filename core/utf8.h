// UTF-8 validity (RFC 3629): for names built from mail addresses (Maildir folders) and
// for text written as JSON. Pure.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace ringpost::core {

// The length of the valid UTF-8 sequence starting at s[i] (1 to 4 for non-ASCII lead
// bytes that start a whole, shortest-form, non-surrogate sequence), or 0.
size_t Utf8SequenceLength(absl::string_view s, size_t i);

// Every byte is ASCII or part of a valid UTF-8 sequence.
bool IsValidUtf8(absl::string_view s);

}  // namespace ringpost::core
