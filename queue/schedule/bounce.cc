#include "queue/schedule/bounce.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/mail_date.h"

namespace ringpost::queue {
namespace {

constexpr size_t kFieldBytesMax = 900;  // under 998 with the field name

// One header-safe line: no CR, LF or NUL (a hostile server's reply text included).
std::string OneLine(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, kFieldBytesMax)) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
  return out;
}

// The header section of the original: up to its empty line, bounded, CRLF-clean.
std::string HeaderSection(absl::string_view message) {
  size_t end = message.find("\r\n\r\n");
  end = end == absl::string_view::npos ? message.size() : end + 2;
  absl::string_view headers = message.substr(0, std::min(end, kBounceHeaderBytesMax));
  std::string out;
  for (size_t i = 0; i < headers.size(); ++i) {
    const char c = headers[i];
    if (c == '\n' && (i == 0 || headers[i - 1] != '\r')) {
      out += "\r\n";
    } else if (c == '\r' && (i + 1 == headers.size() || headers[i + 1] != '\n')) {
      out += "\r\n";
    } else if (c != '\0') {
      out += c;
    }
  }
  if (!out.empty() && !absl::EndsWith(out, "\r\n")) out += "\r\n";
  return out;
}

}  // namespace

absl::StatusOr<std::string> BuildBounce(const BounceInput& in) {
  if (in.original_sender.empty()) {
    return absl::FailedPreconditionError("no bounce for a message from the null sender");
  }
  if (in.failed.empty()) return absl::InvalidArgumentError("a bounce names at least one recipient");
  const std::string boundary = absl::StrCat(in.queue_id, ".", in.sequence, "/", in.reporting_mta);
  const std::string now = core::FormatRfc5322Date(absl::ToUnixSeconds(in.now));
  std::string out;
  absl::StrAppend(&out, "From: Mail Delivery System <MAILER-DAEMON@", in.reporting_mta, ">\r\n", "To: <",
                  OneLine(in.original_sender), ">\r\n", "Subject: Undelivered Mail Returned to Sender\r\n",
                  "Date: ", now, "\r\n", "Message-ID: <", in.queue_id, ".", in.sequence, ".dsn@",
                  in.reporting_mta, ">\r\n",
                  "Auto-Submitted: auto-replied\r\n",  // RFC 3834 §5
                  "MIME-Version: 1.0\r\n",
                  "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"", boundary,
                  "\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n");
  // Part 1: for people.
  absl::StrAppend(&out, "--", boundary, "\r\nContent-Description: Notification\r\n",
                  "Content-Type: text/plain; charset=us-ascii\r\n\r\n", "This is the mail system at host ",
                  in.reporting_mta, ".\r\n\r\nYour message ", in.queue_id,
                  " could not be delivered to one or more recipients. It is attached below.\r\n\r\n");
  for (const BouncedRecipient& r : in.failed) {
    absl::StrAppend(&out, "<", OneLine(r.address), ">: ", OneLine(r.reason.empty() ? r.diagnostic : r.reason),
                    "\r\n");
    if (!r.diagnostic.empty() && !r.reason.empty())
      absl::StrAppend(&out, "    ", OneLine(r.diagnostic), "\r\n");
  }
  // Part 2: RFC 3464 §2.2 per-message fields, then §2.3 per-recipient fields.
  absl::StrAppend(&out, "\r\n--", boundary, "\r\nContent-Description: Delivery report\r\n",
                  "Content-Type: message/delivery-status\r\n\r\n", "Reporting-MTA: dns; ", in.reporting_mta,
                  "\r\nX-Ringpost-Queue-ID: ", in.queue_id,
                  "\r\nArrival-Date: ", core::FormatRfc5322Date(absl::ToUnixSeconds(in.arrival)), "\r\n");
  for (const BouncedRecipient& r : in.failed) {
    absl::StrAppend(&out, "\r\nFinal-Recipient: rfc822; ", OneLine(r.address),
                    "\r\nAction: failed\r\nStatus: ", OneLine(r.status), "\r\n");
    if (!r.diagnostic.empty())
      absl::StrAppend(&out, "Diagnostic-Code: smtp; ", OneLine(r.diagnostic), "\r\n");
  }
  // Part 3: the original header section (RFC 6522 §4: text/rfc822-headers).
  absl::StrAppend(&out, "\r\n--", boundary, "\r\nContent-Description: Undelivered Message Headers\r\n",
                  "Content-Type: text/rfc822-headers\r\n\r\n", HeaderSection(in.original), "\r\n--", boundary,
                  "--\r\n");
  return out;
}

}  // namespace ringpost::queue
