#include "net/smtp/received_header.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/mail_date.h"

namespace ringpost::net {
namespace {

std::string Sanitized(absl::string_view text, size_t bytes_max) {
  std::string out(text.substr(0, bytes_max));
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f || c == '(' || c == ')' || c == '\\') c = '_';
  }
  return out;
}

}  // namespace

std::string ReceivedProtocol(bool esmtp, bool tls, bool smtputf8, bool authenticated) {
  if (!esmtp) return tls ? "SMTPS" : "SMTP";
  return absl::StrCat(smtputf8 ? "UTF8SMTP" : "ESMTP", tls ? "S" : "", authenticated ? "A" : "");
}

std::string FormatReceivedHeader(const ReceivedFields& f) {
  std::string header = absl::StrCat("Received: from ", Sanitized(f.helo, 255), " ([", f.client_address,
                                    "])\r\n\tby ", f.hostname, " (ringpost) with ", f.protocol);
  if (!f.tls.empty()) {
    // "(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)", as Postfix writes it.
    const size_t space = f.tls.find(' ');
    if (space == absl::string_view::npos) {
      absl::StrAppend(&header, " (using ", f.tls, ")");
    } else {
      absl::StrAppend(&header, " (using ", f.tls.substr(0, space), " with cipher ", f.tls.substr(space + 1),
                      ")");
    }
  }
  absl::StrAppend(&header, " id ", f.queue_id);
  if (!f.recipient.empty()) absl::StrAppend(&header, "\r\n\tfor <", f.recipient, ">");
  absl::StrAppend(&header, "; ", core::FormatRfc5322Date(absl::ToUnixSeconds(f.time)), "\r\n");
  return header;
}

void ReceivedHeaderCounter::Feed(absl::string_view piece) {
  size_t i = 0;
  while (i < piece.size() && in_headers_) {
    if (!at_line_start_ && !matching_) {
      // Mid-line and not a Received: line: skip to the next line.
      const size_t lf = piece.find('\n', i);
      if (lf == absl::string_view::npos) return;
      i = lf + 1;
      at_line_start_ = true;
      continue;
    }
    const char c = piece[i++];
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
