#include "queue/schedule/bounce.h"

#include <algorithm>

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

// `text` with every line ending CRLF (bare CR or LF made CRLF, one added at the end)
// and no NUL.
std::string CrlfClean(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' && (i == 0 || text[i - 1] != '\r')) {
      out += "\r\n";
    } else if (c == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) {
      out += "\r\n";
    } else if (c != '\0') {
      out += c;
    }
  }
  if (!out.empty() && !absl::EndsWith(out, "\r\n")) out += "\r\n";
  return out;
}

// The header section of the original: up to its empty line, bounded, CRLF-clean.
std::string HeaderSection(absl::string_view message) {
  size_t end = message.find("\r\n\r\n");
  end = end == absl::string_view::npos ? message.size() : end + 2;
  return CrlfClean(message.substr(0, std::min(end, kBounceHeaderBytesMax)));
}

}  // namespace

absl::string_view DsnActionName(DsnAction action) {
  switch (action) {
    case DsnAction::kFailed:
      return "failed";
    case DsnAction::kDelayed:
      return "delayed";
    case DsnAction::kDelivered:
      return "delivered";
    case DsnAction::kRelayed:
      return "relayed";
  }
  return "failed";
}

absl::StatusOr<std::string> BuildBounce(const BounceInput& in) {
  if (in.original_sender.empty()) {
    return absl::FailedPreconditionError("no report for a message from the null sender");
  }
  if (in.recipients.empty()) return absl::InvalidArgumentError("a report names at least one recipient");
  bool any_failed = false, any_delayed = false;
  for (const ReportedRecipient& r : in.recipients) {
    any_failed |= r.action == DsnAction::kFailed;
    any_delayed |= r.action == DsnAction::kDelayed;
  }
  const absl::string_view subject = any_failed    ? "Undelivered Mail Returned to Sender"
                                    : any_delayed ? "Delayed Mail (still being retried)"
                                                  : "Successful Mail Delivery Report";
  const std::string boundary = absl::StrCat(in.queue_id, ".", in.sequence, "/", in.reporting_mta);
  const std::string now = core::FormatRfc5322Date(absl::ToUnixSeconds(in.now));
  std::string out;
  absl::StrAppend(&out, "From: Mail Delivery System <MAILER-DAEMON@", in.reporting_mta, ">\r\n", "To: <",
                  OneLine(in.original_sender), ">\r\n", "Subject: ", subject, "\r\n", "Date: ", now, "\r\n",
                  "Message-ID: <", in.queue_id, ".", in.sequence, ".dsn@", in.reporting_mta, ">\r\n",
                  "Auto-Submitted: auto-replied\r\n",  // RFC 3834 §5
                  "MIME-Version: 1.0\r\n",
                  "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"", boundary,
                  "\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n");
  // Part 1: for people.
  absl::StrAppend(&out, "--", boundary, "\r\nContent-Description: Notification\r\n",
                  "Content-Type: text/plain; charset=us-ascii\r\n\r\n", "This is the mail system at host ",
                  in.reporting_mta, ".\r\n\r\n");
  if (any_failed) {
    absl::StrAppend(&out, "Your message ", in.queue_id,
                    " could not be delivered to one or more recipients. It is attached below.\r\n\r\n");
  } else if (any_delayed) {
    absl::StrAppend(&out, "Your message ", in.queue_id,
                    " could not be delivered yet to one or more recipients; delivery is still being tried. "
                    "You do not need to send it again.\r\n\r\n");
  } else {
    absl::StrAppend(&out, "Your message ", in.queue_id, " was delivered as you asked to be told.\r\n\r\n");
  }
  for (const ReportedRecipient& r : in.recipients) {
    const std::string why = r.reason.empty() ? r.diagnostic : r.reason;
    // "<a@b>: the reason" for a failure (as Postfix writes it), "<a@b>: relayed: ..." else.
    const bool failed = r.action == DsnAction::kFailed;
    absl::StrAppend(&out, "<", OneLine(r.address), ">: ", failed ? "" : DsnActionName(r.action),
                    failed || why.empty() ? "" : ": ", OneLine(why), "\r\n");
    if (!r.diagnostic.empty() && !r.reason.empty())
      absl::StrAppend(&out, "    ", OneLine(r.diagnostic), "\r\n");
  }
  // Part 2: RFC 3464 §2.2 per-message fields, then §2.3 per-recipient fields.
  absl::StrAppend(&out, "\r\n--", boundary, "\r\nContent-Description: Delivery report\r\n",
                  "Content-Type: message/delivery-status\r\n\r\n", "Reporting-MTA: dns; ", in.reporting_mta,
                  "\r\n");
  if (!in.envid.empty()) absl::StrAppend(&out, "Original-Envelope-Id: ", OneLine(in.envid), "\r\n");
  absl::StrAppend(&out, "X-Ringpost-Queue-ID: ", in.queue_id,
                  "\r\nArrival-Date: ", core::FormatRfc5322Date(absl::ToUnixSeconds(in.arrival)), "\r\n");
  for (const ReportedRecipient& r : in.recipients) {
    absl::StrAppend(&out, "\r\n");
    if (!r.original_recipient.empty()) {
      absl::StrAppend(&out, "Original-Recipient: ", OneLine(r.original_recipient), "\r\n");
    }
    absl::StrAppend(&out, "Final-Recipient: rfc822; ", OneLine(r.address),
                    "\r\nAction: ", DsnActionName(r.action), "\r\nStatus: ", OneLine(r.status), "\r\n");
    if (!r.diagnostic.empty())
      absl::StrAppend(&out, "Diagnostic-Code: smtp; ", OneLine(r.diagnostic), "\r\n");
  }
  // Part 3: the original (RFC 6522 §4), whole with RET=FULL when it is not too big.
  if (in.return_full && in.original.size() <= kBounceFullBytesMax) {
    absl::StrAppend(&out, "\r\n--", boundary, "\r\nContent-Description: The Original Message\r\n",
                    "Content-Type: message/rfc822\r\n\r\n", CrlfClean(in.original), "\r\n--", boundary,
                    "--\r\n");
  } else {
    absl::StrAppend(&out, "\r\n--", boundary, "\r\nContent-Description: ",
                    any_failed ? "Undelivered Message Headers" : "Message Headers", "\r\n",
                    "Content-Type: text/rfc822-headers\r\n\r\n", HeaderSection(in.original), "\r\n--",
                    boundary, "--\r\n");
  }
  return out;
}

std::string ReportSummary(const std::vector<ReportedRecipient>& recipients) {
  std::string out;
  for (const DsnAction action :
       {DsnAction::kFailed, DsnAction::kDelayed, DsnAction::kDelivered, DsnAction::kRelayed}) {
    const auto count = std::count_if(recipients.begin(), recipients.end(),
                                     [action](const ReportedRecipient& r) { return r.action == action; });
    if (count > 0) absl::StrAppend(&out, out.empty() ? "" : " ", DsnActionName(action), "=", count);
  }
  return out;
}

}  // namespace ringpost::queue
