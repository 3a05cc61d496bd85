// SmtpServer's message body (smtp_server.h): DATA and BDAT bytes in, the stored form
// out in pieces (added header fields, long lines broken, small pieces gathered), then
// the commit and its reply.
#include <string.h>  // memrchr (GNU)

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/mail_date.h"
#include "net/smtp/smtp_server.h"

namespace ringpost::net {
namespace {

// RFC 3463 §3.5 (4.3.1 mail system full) and §3.5 (4.3.0 other mail system status).
std::string StorageReply(const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) return "452 4.3.1 Insufficient system storage\r\n";
  // The handler's policy, not the disk: a message it will not queue (RFC 3463 §3.8).
  if (absl::IsFailedPrecondition(status)) return absl::StrCat("451 4.7.5 ", status.message(), "\r\n");
  return "451 4.3.0 Error: queue file write error\r\n";
}

}  // namespace

size_t SmtpServer::FeedData(absl::string_view input) {
  const size_t used = data_.Consume(input, [this](absl::string_view piece) { BodyPiece(piece); });
  if (data_.done()) {
    if (message_error_.empty() && data_.saw_bare_line_ending() &&
        options_.bare_line_endings == BareLineEndings::kReject) {
      message_error_ = "550 5.5.2 Error: bare <LF> or <CR> in message data\r\n";
    }
    FinishMessage();
  }
  return used;
}

size_t SmtpServer::FeedBdat(absl::string_view input) {
  const size_t take = static_cast<size_t>(std::min<uint64_t>(bdat_remaining_, input.size()));
  if (bdat_refusal_.empty()) BodyPiece(input.substr(0, take));
  bdat_remaining_ -= take;
  if (bdat_remaining_ == 0) ChunkDone();
  return take;
}

void SmtpServer::ChunkDone() {
  phase_ = Phase::kCommand;
  if (!bdat_refusal_.empty()) {
    const std::string reply = std::move(bdat_refusal_);
    bdat_refusal_.clear();
    return ErrorReply(reply);
  }
  // RFC 3030 §2: after an error reply the transaction has failed; the client sends
  // no more chunks of it.
  if (!message_error_.empty()) return FailMessage(message_error_);
  if (!bdat_last_) return Reply(absl::StrCat("250 2.0.0 ", message_bytes_, " octets received\r\n"));
  FinishMessage();
}

std::string SmtpServer::StartMessage(absl::Time now) {
  RP_CHECK(!message_open_);
  absl::StatusOr<std::string> queue_id = handler_.BeginMessage();
  if (!queue_id.ok()) return StorageReply(queue_id.status());
  message_open_ = true;
  queue_id_ = *std::move(queue_id);
  arrival_ = now;
  message_bytes_ = 0;
  line_bytes_ = 0;
  message_error_.clear();
  received_.Reset();
  message_id_.Reset();
  header_section_.Reset();
  add_missing_headers_ = options_.add_missing_headers && may_relay();
  added_headers_.clear();
  added_message_id_.clear();
  ReceivedFields fields;
  fields.helo = helo_;
  fields.client_address = client_.address;
  fields.hostname = options_.hostname;
  const std::string protocol =
      ReceivedProtocol(esmtp_, /*tls=*/!tls_.empty(), smtputf8_, !auth_user_.empty());
  fields.protocol = protocol;
  fields.tls = tls_;
  fields.queue_id = queue_id_;
  if (recipients_.size() == 1) fields.recipient = recipients_.front().address;
  fields.time = now;
  // The Received: field waits for the first body bytes and goes to the log in their
  // record: one record, read back in one piece, even when other sessions' records are
  // written while this client's body is on its way.
  carry_ = FormatReceivedHeader(fields);
  return "";
}

void SmtpServer::BodyPiece(absl::string_view piece) {
  if (!message_open_ || !message_error_.empty() || piece.empty()) return;  // being dropped
  message_bytes_ += piece.size();
  if (message_bytes_ > options_.message_bytes_max) {  // RFC 1870 §6.1
    message_error_ = "552 5.3.4 Error: message exceeds fixed maximum message size\r\n";
    pieces_.clear();
    return;
  }
  received_.Feed(piece);
  message_id_.Feed(piece);
  if (received_.count() > options_.received_headers_max) {  // RFC 5321 §6.3
    message_error_ = "554 5.4.6 Error: too many hops (mail loop)\r\n";
    pieces_.clear();
    return;
  }
  if (add_missing_headers_ && header_section_.in_headers()) {
    const size_t end = header_section_.Feed(piece);
    if (end != absl::string_view::npos) {
      AddLines(piece.substr(0, end));
      AddMissingHeaders();
      piece.remove_prefix(end);
    }
  }
  AddLines(piece);
}

void SmtpServer::AddMissingHeaders() {
  // Postfix's forms: Date: the arrival; Message-ID: <time.queue id@this host>, unique
  // because queue ids are unique across nodes.
  const int64_t seconds = absl::ToUnixSeconds(arrival_);
  if (!header_section_.has_date()) {
    absl::StrAppend(&added_headers_, "Date: ", core::FormatRfc5322Date(seconds), "\r\n");
  }
  if (!header_section_.has_message_id()) {
    added_message_id_ = absl::StrCat("<", absl::FormatTime("%Y%m%d%H%M%S", arrival_, absl::UTCTimeZone()),
                                     ".", queue_id_, "@", options_.hostname, ">");
    absl::StrAppend(&added_headers_, "Message-ID: ", added_message_id_, "\r\n");
  }
  AddPiece(added_headers_);
}

void SmtpServer::AddLines(absl::string_view piece) {
  static constexpr absl::string_view kBreak = "\r\n ";  // a folded line goes on after a space
  while (!piece.empty() && message_error_.empty()) {
    // Every line that ends within the next kLineOctetsMax - line_bytes_ + 1 bytes is
    // short enough, so all of them go at once: one memrchr per ~1,000 bytes rather
    // than a search per line. Only a line that reaches past that is looked at alone.
    if (line_bytes_ <= kLineOctetsMax) {
      const size_t reach = std::min(piece.size(), kLineOctetsMax - line_bytes_ + 1);
      if (const void* last_lf = memrchr(piece.data(), '\n', reach); last_lf != nullptr) {
        const size_t take = static_cast<size_t>(static_cast<const char*>(last_lf) - piece.data()) + 1;
        AddPiece(piece.substr(0, take));
        line_bytes_ = 0;
        piece.remove_prefix(take);
        continue;
      }
    }
    const size_t lf = piece.find('\n');
    const size_t take = lf == absl::string_view::npos ? piece.size() : lf + 1;
    // Octets of the line in this piece, its CRLF (or a CR that may be one) not counted.
    size_t content = lf == absl::string_view::npos ? take : lf;
    if (content > 0 && piece[content - 1] == '\r') --content;
    if (line_bytes_ + content <= kLineOctetsMax) {
      AddPiece(piece.substr(0, take));
      line_bytes_ = lf == absl::string_view::npos ? line_bytes_ + take : 0;
      piece.remove_prefix(take);
      continue;
    }
    if (options_.long_lines == LongLines::kReject) {
      message_error_ =
          "550 5.6.0 Error: message has a line longer than 998 octets (RFC 5322 section 2.1.1)\r\n";
      pieces_.clear();
      return;
    }
    const size_t room = line_bytes_ < kLineOctetsMax ? kLineOctetsMax - line_bytes_ : 0;
    AddPiece(piece.substr(0, room));
    AddPiece(kBreak);
    line_bytes_ = 1;  // the space
    piece.remove_prefix(room);
  }
}

void SmtpServer::AddPiece(absl::string_view piece) {
  if (piece.empty()) return;
  // Adjacent views (the usual case: DataReader emits runs of one input) become one.
  if (!pieces_.empty() && pieces_.back().data() + pieces_.back().size() == piece.data()) {
    pieces_.back() = absl::string_view(pieces_.back().data(), pieces_.back().size() + piece.size());
  } else {
    pieces_.push_back(piece);
  }
}

void SmtpServer::FlushBody(bool final) {
  if (!message_open_ || !message_error_.empty()) {
    pieces_.clear();
    carry_.clear();
    return;
  }
  size_t bytes = carry_.size();
  for (absl::string_view piece : pieces_) bytes += piece.size();
  if (bytes == 0) return;
  if (!final && bytes < kBodyFlushBytesMin) {
    // A client that drips its data in small segments: keep the bytes here until there
    // are enough for one record, so a message never needs thousands of tiny records
    // (its commit record lists them all).
    for (absl::string_view piece : pieces_) carry_.append(piece.data(), piece.size());
    pieces_.clear();
    return;
  }
  if (!carry_.empty()) pieces_.insert(pieces_.begin(), absl::string_view(carry_));
  if (absl::Status s = handler_.AppendBody(pieces_); !s.ok()) message_error_ = StorageReply(s);
  pieces_.clear();
  carry_.clear();
}

void SmtpServer::FinishMessage() {
  if (message_open_ && message_error_.empty() && add_missing_headers_ && header_section_.in_headers()) {
    // No empty line: the whole message is its header section, and ends here.
    if (line_bytes_ > 0) AddPiece("\r\n");
    AddMissingHeaders();
  }
  FlushBody(/*final=*/true);
  if (!message_error_.empty()) return FailMessage(message_error_);
  RP_CHECK(message_open_);
  SmtpEnvelope envelope;
  envelope.queue_id = queue_id_;
  envelope.arrival = arrival_;
  envelope.client_address = client_.address;
  envelope.helo = helo_;
  envelope.protocol = ReceivedProtocol(esmtp_, /*tls=*/!tls_.empty(), smtputf8_, !auth_user_.empty());
  envelope.auth_user = auth_user_;
  envelope.tls = tls_;
  envelope.mail_from = mail_from_;
  envelope.mail_params = mail_params_;
  envelope.message_id = added_message_id_.empty() ? message_id_.value() : added_message_id_;
  envelope.recipients = std::move(recipients_);  // the transaction resets after the commit
  message_open_ = false;                         // the handler owns it now
  phase_ = Phase::kAwaitingCommit;
  handler_.CommitMessage(std::move(envelope));  // may call OnCommitted at once
}

void SmtpServer::OnCommitted(const absl::Status& status, absl::string_view queue_id) {
  RP_CHECK(phase_ == Phase::kAwaitingCommit);
  phase_ = Phase::kCommand;
  if (status.ok()) {
    Reply(absl::StrCat("250 2.0.0 Ok: queued as ", queue_id, "\r\n"));
  } else {
    const std::string reply = StorageReply(status);
    handler_.OnRefused("DATA", reply);
    Reply(reply);
  }
  ResetTransaction();
  DrainAfterTransaction();
}

void SmtpServer::FailMessage(absl::string_view reply) {
  const std::string text(reply);  // `reply` may be message_error_, which the reset clears
  if (message_open_) {
    handler_.AbortMessage();
    message_open_ = false;
  }
  phase_ = Phase::kCommand;
  handler_.OnRefused(bdat_transaction_ ? "BDAT" : "DATA", text);
  Reply(text);
  ResetTransaction();
  DrainAfterTransaction();
}

}  // namespace ringpost::net
