// SMTP replies as a client reads them (RFC 5321 §4.2): a 3-digit code, '-' on every
// line but the last, an optional enhanced status code (RFC 3463, RFC 2034).
//
// Sans-I/O: fed one line at a time (from a LineAssembler). Bounded: only the first
// kTextBytesMax bytes of text are kept, and a reply of more than kLinesMax lines is an
// error, so a hostile server's 100,000-line reply costs a few KiB and then a close.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::net {

struct SmtpReply {
  int code = 0;          // 200..599
  std::string enhanced;  // "2.0.0" when the server sent one, else empty
  std::string text;      // the lines' text joined by '\n', bounded
  uint32_t lines = 0;
  bool text_truncated = false;

  int code_class() const { return code / 100; }
  // The whole reply as one log-friendly line: "250 2.0.0 Ok".
  std::string Summary() const;
};

// Parses "X.Y.Z" (RFC 3463: class 2/4/5, subject 1-3 digits, detail 1-3 digits).
// Returns its length in `text` (0 when absent).
size_t ParseEnhancedCode(absl::string_view text);

class ReplyParser {
 public:
  static constexpr uint32_t kLinesMax = 1000;
  static constexpr size_t kTextBytesMax = 4096;

  enum class Result { kNeedMore, kReply, kError };

  // One line without its CRLF. After kReply, reply() holds it until the next line.
  Result OnLine(absl::string_view line);
  const SmtpReply& reply() const { return reply_; }
  const std::string& error() const { return error_; }

 private:
  Result Fail(const char* why);
  SmtpReply reply_;
  bool in_reply_ = false;
  std::string error_;
};

}  // namespace ringpost::net
