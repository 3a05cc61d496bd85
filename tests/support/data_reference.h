// The DATA reference model of net/data_reader.h, written as plainly as possible, for
// the unit tests and the differential fuzz target.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::testing {

struct ReferenceDataResult {
  std::string body;     // normalised and unstuffed
  size_t consumed = 0;  // input bytes up to and including the terminator
  bool saw_bare = false;
};

// nullopt when `input` holds no terminator.
inline std::optional<ReferenceDataResult> ReferenceData(absl::string_view input) {
  // 1. The end: the first "\r\n.\r\n" in "\r\n" + input.
  const std::string framed = "\r\n" + std::string(input);
  const size_t end = framed.find("\r\n.\r\n");
  if (end == std::string::npos) return std::nullopt;
  ReferenceDataResult result;
  result.consumed = end + 5 - 2;
  // The raw body is input[0, end) — it ends with the terminator's CRLF (absent when
  // the terminator comes first).
  const std::string raw = end >= 2 ? framed.substr(2, end) : std::string();
  // 2. Bare CR and bare LF become CRLF.
  std::string normal;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r') {
      if (i + 1 < raw.size() && raw[i + 1] == '\n') {
        normal += "\r\n";
        ++i;
      } else {
        normal += "\r\n";
        result.saw_bare = true;
      }
    } else if (raw[i] == '\n') {
      normal += "\r\n";
      result.saw_bare = true;
    } else {
      normal += raw[i];
    }
  }
  // 3. A line starting with "." loses that dot.
  bool line_start = true;
  for (size_t i = 0; i < normal.size(); ++i) {
    if (line_start && normal[i] == '.') {
      line_start = false;
      continue;
    }
    result.body += normal[i];
    line_start = normal[i] == '\n' && i > 0 && normal[i - 1] == '\r';
  }
  return result;
}

}  // namespace ringpost::testing
