// Byte-by-byte and line-by-line readings of the rules net/smtp/line_scan.h scans for
// in blocks: the unit test and the fuzz target check the scans against these.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace ringpost::testing {

// RFC 5321 §2.3.8: every CR is followed by LF and every LF follows a CR.
inline bool CrLfCleanByteByByte(absl::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\r' && (i + 1 == bytes.size() || bytes[i + 1] != '\n')) return false;
    if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) return false;
  }
  return true;
}

// The DATA reader's fast path read a line at a time (RFC 5321 §4.5.2): a line is
// passed over when it ends in CRLF, its only CR is that one, and the next line's first
// byte is there and is not '.', CR or LF. Stops at the failing line's first CR (or its
// LF when it has none), or at the end.
inline size_t PlainLinesEndByLines(absl::string_view bytes) {
  size_t i = 0;
  while (true) {
    const size_t lf = bytes.find('\n', i);
    const size_t lf_at = lf == absl::string_view::npos ? bytes.size() : lf;
    const size_t cr = bytes.substr(0, lf_at).find('\r', i);
    const size_t cr_at = cr == absl::string_view::npos ? lf_at : cr;
    const bool plain = lf != absl::string_view::npos && cr_at + 1 == lf_at && lf_at + 1 < bytes.size() &&
                       bytes[lf_at + 1] != '.' && bytes[lf_at + 1] != '\r' && bytes[lf_at + 1] != '\n';
    if (!plain) return cr_at;
    i = lf_at + 1;
  }
}

}  // namespace ringpost::testing
