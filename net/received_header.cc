#include "net/received_header.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ringpost::net {
namespace {

std::string Sanitized(absl::string_view text, size_t bytes_max) {
  std::string out;
  for (char c : text.substr(0, bytes_max)) {
    const unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x21 || u == 0x7f || c == '(' || c == ')' || c == '\\') ? '_' : c;
  }
  return out;
}

}  // namespace

absl::string_view ReceivedProtocol(bool esmtp, bool tls, bool smtputf8) {
  if (!esmtp) return tls ? "SMTPS" : "SMTP";
  if (smtputf8) return tls ? "UTF8SMTPS" : "UTF8SMTP";
  return tls ? "ESMTPS" : "ESMTP";
}

std::string FormatReceivedHeader(const ReceivedFields& f) {
  std::string header = absl::StrCat("Received: from ", Sanitized(f.helo, 255), " ([", f.client_address,
                                    "])\r\n\tby ", f.hostname, " (ringpost) with ", f.protocol);
  if (!f.tls.empty()) absl::StrAppend(&header, " (", f.tls, ")");
  absl::StrAppend(&header, " id ", f.queue_id);
  if (!f.recipient.empty()) absl::StrAppend(&header, "\r\n\tfor <", f.recipient, ">");
  // RFC 5322 §3.3 date-time, in UTC.
  absl::StrAppend(&header, "; ", absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", f.time, absl::UTCTimeZone()),
                  "\r\n");
  return header;
}

void ReceivedHeaderCounter::Feed(absl::string_view piece) {
  for (size_t i = 0; i < piece.size() && in_headers_; ++i) {
    const char c = piece[i];
    if (at_line_start_) {
      at_line_start_ = false;
      if (c == '\r' || c == '\n') {
        in_headers_ = false;  // the empty line ends the header section (RFC 5322 §2.1)
        return;
      }
      matching_ = true;
      matched_ = 0;
    }
    if (c == '\n') {
      at_line_start_ = true;
      matching_ = false;
      continue;
    }
    if (!matching_) continue;
    if (absl::ascii_tolower(static_cast<unsigned char>(c)) == kName[matched_]) {
      if (++matched_ == kName.size()) {
        ++count_;
        matching_ = false;
      }
    } else {
      matching_ = false;
    }
  }
}

}  // namespace ringpost::net
