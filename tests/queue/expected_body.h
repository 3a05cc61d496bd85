// The body the kill test's writer stores for a queue id, so the checker can rebuild
// it byte for byte from the id and length alone.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"

namespace ringpost::testing {

inline std::string ExpectedBody(const std::string& id, size_t bytes) {
  std::string body;
  body.reserve(bytes + 64);
  for (size_t line = 0; body.size() < bytes; ++line) absl::StrAppend(&body, id, " line ", line, "\r\n");
  body.resize(bytes);
  return body;
}

}  // namespace ringpost::testing
