#include "net/smtp/smtp_client.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/check.h"
#include "net/smtp/line_scan.h"
#include "net/smtp/sasl.h"

namespace ringpost::net {
namespace {

// RFC 5321 §4.5.3.1.5: reply lines are at most 512 octets; room for sloppy servers.
constexpr size_t kReplyLineBytesMax = 4096;

SmtpReply LocalReply(int code, absl::string_view enhanced, absl::string_view text) {
  SmtpReply reply;
  reply.code = code;
  reply.enhanced = std::string(enhanced);
  reply.text = std::string(text);
  reply.lines = 1;
  return reply;
}

RecipientResult ResultOf(const SmtpReply& reply) {
  RecipientResult result;
  result.code = reply.code;
  result.enhanced = reply.enhanced;
  result.text = reply.text.substr(0, reply.text.find('\n'));
  return result;
}

}  // namespace

std::string RecipientResult::Summary() const {
  if (code == 0 && !text.empty()) return text;  // decided here, before the server said anything
  if (code == 0) return possible_duplicate ? "no reply after the final dot" : "no reply";
  return absl::StrCat(code, enhanced.empty() ? "" : " ", enhanced, " ", text);
}

SmtpClient::SmtpClient(const SmtpClientOptions& options, SmtpClientEvents& events)
    : options_(options), events_(events), lines_(kReplyLineBytesMax) {}

std::string SmtpClient::TakeOutput() {
  PlaceBody();
  std::string out;
  out.swap(output_);
  return out;
}

std::string SmtpClient::TakeBodyOutput() {
  if (!body_pending_) return std::string();
  body_pending_ = false;
  return std::move(message_.body);  // sent: nothing reads the body again
}

void SmtpClient::PlaceBody() {
  if (!body_pending_) return;
  body_pending_ = false;
  output_.append(message_.body);
}

void SmtpClient::Feed(absl::string_view bytes) {
  absl::string_view rest = bytes;
  // CVE-2021-38371: after the 220 to STARTTLS nothing more is read in plaintext; a
  // server (or a man in the middle) that sent more gets it dropped.
  while (!rest.empty() && phase_ != Phase::kClosed && phase_ != Phase::kFailed &&
         phase_ != Phase::kTlsHandshake) {
    absl::string_view line;
    const LineAssembler::Result result = lines_.Next(&rest, &line);
    if (result == LineAssembler::Result::kNeedMore) break;
    if (result == LineAssembler::Result::kTooLong) return Fail("reply line too long", /*send_quit=*/false);
    switch (replies_.OnLine(line)) {
      case ReplyParser::Result::kNeedMore:
        break;
      case ReplyParser::Result::kError:
        return Fail(absl::StrCat("bad reply: ", replies_.error()), /*send_quit=*/false);
      case ReplyParser::Result::kReply:
        OnReply(replies_.reply());
        break;
    }
  }
}

void SmtpClient::OnReply(const SmtpReply& reply) {
  switch (phase_) {
    case Phase::kGreeting:
      return OnGreeting(reply);
    case Phase::kEhlo:
      return OnEhlo(reply, /*esmtp=*/true);
    case Phase::kHelo:
      return OnEhlo(reply, /*esmtp=*/false);
    case Phase::kStartTls:
      return OnStartTlsReply(reply);
    case Phase::kTlsHandshake:
      return;  // not reached: Feed stops reading
    case Phase::kReady:
      return Fail(absl::StrCat("reply nobody asked for: ", reply.Summary()), /*send_quit=*/false);
    case Phase::kTransaction: {
      if (expected_.empty()) {
        return Fail(absl::StrCat("reply nobody asked for: ", reply.Summary()), /*send_quit=*/false);
      }
      const Expect expected = expected_.front();
      expected_.pop_front();
      return OnTransactionReply(expected, reply);
    }
    case Phase::kQuitting:
      phase_ = Phase::kClosed;  // whatever QUIT got, the session is over
      return;
    case Phase::kFailed:
    case Phase::kClosed:
      return;
  }
}

void SmtpClient::OnGreeting(const SmtpReply& reply) {
  // RFC 5321 §3.1: a 554 greeting means no service; the client sends QUIT.
  if (reply.code_class() != 2) {
    refusal_ = reply;
    return Fail(absl::StrCat("greeting: ", reply.Summary()), /*send_quit=*/true);
  }
  Send(absl::StrCat("EHLO ", options_.helo_name, "\r\n"));
  phase_ = Phase::kEhlo;
}

void SmtpClient::OnEhlo(const SmtpReply& reply, bool esmtp) {
  if (reply.code_class() != 2) {
    // RFC 5321 §3.2: a server that refuses EHLO with a 5xx may still take HELO.
    if (esmtp && reply.code_class() == 5) {
      Send(absl::StrCat("HELO ", options_.helo_name, "\r\n"));
      phase_ = Phase::kHelo;
      return;
    }
    refusal_ = reply;
    return Fail(absl::StrCat(esmtp ? "EHLO: " : "HELO: ", reply.Summary()), /*send_quit=*/true);
  }
  extensions_ = ServerExtensions();
  extensions_.esmtp = esmtp;
  if (esmtp) {
    bool first = true;
    for (absl::string_view line : absl::StrSplit(reply.text, '\n')) {
      if (first) {  // the server's name and greeting text, not an extension
        first = false;
        continue;
      }
      std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (words.empty()) continue;
      const std::string keyword = absl::AsciiStrToUpper(words[0]);
      if (keyword == "PIPELINING") extensions_.pipelining = true;
      if (keyword == "8BITMIME") extensions_.eight_bit_mime = true;
      if (keyword == "SMTPUTF8") extensions_.smtputf8 = true;
      if (keyword == "CHUNKING") extensions_.chunking = true;
      if (keyword == "DSN") extensions_.dsn = true;
      if (keyword == "STARTTLS") extensions_.starttls = true;
      if (keyword == "AUTH" || absl::StartsWith(keyword, "AUTH=")) {  // "AUTH=LOGIN": an old form
        std::vector<std::string> mechanisms;
        if (keyword.size() > 5) mechanisms.push_back(keyword.substr(5));
        for (size_t i = 1; i < words.size(); ++i) mechanisms.push_back(absl::AsciiStrToUpper(words[i]));
        for (const std::string& m : mechanisms) {
          extensions_.auth_plain |= m == "PLAIN";
          extensions_.auth_login |= m == "LOGIN";
        }
      }
      if (keyword == "SIZE") {
        extensions_.size_offered = true;
        uint64_t size = 0;
        if (words.size() > 1 && absl::SimpleAtoi(words[1], &size)) extensions_.size_max = size;
      }
    }
  }
  if (!tls_active_ && tls_policy_ != TlsPolicy::kNone) {
    if (extensions_.starttls) {
      Send("STARTTLS\r\n");  // RFC 3207 §4
      phase_ = Phase::kStartTls;
      return;
    }
    if (tls_policy_ == TlsPolicy::kRequired) {
      return Fail("TLS is required (--outbound_tls=required) and the server does not offer STARTTLS",
                  /*send_quit=*/true);
    }
  }
  phase_ = Phase::kReady;
  events_.OnSessionReady();
}

void SmtpClient::OnStartTlsReply(const SmtpReply& reply) {
  if (reply.code == 220) {
    phase_ = Phase::kTlsHandshake;
    lines_.Reset();  // a partial line after the 220 is dropped too
    replies_ = ReplyParser();
    events_.OnStartTls();
    return;
  }
  if (tls_policy_ == TlsPolicy::kRequired) {
    return Fail(absl::StrCat("TLS is required and STARTTLS was refused: ", reply.Summary()),
                /*send_quit=*/true);
  }
  // Opportunistic: the session goes on in plaintext (RFC 3207 §4.1 lets the client
  // decide), with what the first EHLO offered.
  phase_ = Phase::kReady;
  events_.OnSessionReady();
}

void SmtpClient::OnTlsStarted() {
  RP_CHECK(phase_ == Phase::kTlsHandshake);
  tls_active_ = true;
  // RFC 3207 §4.2: everything learned before TLS is forgotten; EHLO again.
  extensions_ = ServerExtensions();
  Send(absl::StrCat("EHLO ", options_.helo_name, "\r\n"));
  phase_ = Phase::kEhlo;
}

void SmtpClient::AppendMailCommand(std::string* out) const {
  absl::StrAppend(out, "MAIL FROM:<", message_.mail_from, ">");
  if (extensions_.size_offered) absl::StrAppend(out, " SIZE=", message_.body.size());  // RFC 1870 §6
  if (message_.eight_bit && extensions_.eight_bit_mime) out->append(" BODY=8BITMIME");
  if (message_.smtputf8) out->append(" SMTPUTF8");      // RFC 6531 §3.4
  if (extensions_.dsn) out->append(message_.mail_dsn);  // RFC 3461 §4.3, §4.4
  out->append("\r\n");
}

std::string& SmtpClient::NextCommand(Expect expect) {
  if (extensions_.pipelining && to_send_.empty()) {
    PlaceBody();
    expected_.push_back(expect);
    return output_;
  }
  to_send_.push_back({std::string(), expect});
  return to_send_.back().command;
}

void SmtpClient::StartMessage(OutboundMessage message) {
  RP_CHECK(phase_ == Phase::kReady);
  RP_CHECK(!message.recipients.empty());
  RP_CHECK(expected_.empty());
  message_ = std::move(message);
  const size_t n = message_.recipients.size();
  results_.assign(n, RecipientResult());
  decided_.assign(n, false);
  accepted_.clear();
  rcpt_replies_ = 0;
  mail_failed_ = false;
  has_deciding_ = false;
  body_sent_ = false;
  phase_ = Phase::kTransaction;
  // Refused here, without a word to the server: it said what it cannot take.
  if (extensions_.size_offered && extensions_.size_max > 0 && message_.body.size() > extensions_.size_max) {
    deciding_ = LocalReply(552, "5.3.4", "message size exceeds the next hop's fixed limit");
    has_deciding_ = true;
    return FinishMessage();
  }
  if (message_.smtputf8 && !extensions_.smtputf8) {
    deciding_ = LocalReply(553, "5.6.7", "next hop does not support SMTPUTF8");  // DESIGN.md
    has_deciding_ = true;
    return FinishMessage();
  }
  use_bdat_ = extensions_.chunking && IsCrLfClean(message_.body);
  if (!login_user_.empty() && !logged_in_) {
    if (!tls_active_) {
      // RFC 8314 §3 and --route_auth: a password never crosses plaintext.
      return FailMessageAndSession(
          LocalReply(0, "4.7.10",
                     "TLS is needed to log in to the next hop; nothing was sent over "
                     "plaintext"),
          "no TLS to log in over");
    }
    if (!extensions_.auth_plain && !extensions_.auth_login) {
      return FailMessageAndSession(
          LocalReply(0, "4.7.0", "the next hop offers no AUTH PLAIN or LOGIN to log in with"),
          "no AUTH mechanism to log in with");
    }
    // RFC 4954 §4: AUTH is not pipelined; the transaction follows its 235.
    if (extensions_.auth_plain) {
      const std::string plain =
          absl::StrCat(std::string(1, '\0'), login_user_, std::string(1, '\0'), login_password_);
      Send(absl::StrCat("AUTH PLAIN ", EncodeSaslBase64(plain), "\r\n"));
    } else {
      Send("AUTH LOGIN\r\n");
    }
    expected_.push_back(Expect::kAuth);
    return;
  }
  QueueTransaction();
}

void SmtpClient::QueueTransaction() {
  const size_t n = message_.recipients.size();
  // Built in place: with PIPELINING the whole group is appended to the output as it is
  // made, without a string per command.
  if (needs_rset_) NextCommand(Expect::kRset).append("RSET\r\n");
  AppendMailCommand(&NextCommand(Expect::kMail));
  for (size_t i = 0; i < n; ++i) {
    // RFC 3461 §4.1, §4.2: NOTIFY and ORCPT go on to a server that offers DSN.
    const absl::string_view dsn =
        extensions_.dsn && i < message_.recipient_dsn.size() ? message_.recipient_dsn[i] : absl::string_view();
    absl::StrAppend(&NextCommand(Expect::kRcpt), "RCPT TO:<", message_.recipients[i], ">", dsn, "\r\n");
  }
  // RFC 2920 §3.1: DATA may end a pipelined group; its 354 is awaited before the body.
  if (!use_bdat_) NextCommand(Expect::kData).append("DATA\r\n");
  Pump();
  // RFC 3030 §4.2 with RFC 2920: BDAT may end the pipelined group, and its chunk is read
  // whatever the RCPT replies were, so the body leaves in the same write as the
  // commands: one round trip per message. Without PIPELINING it waits for an accepted
  // recipient (OnTransactionReply).
  if (use_bdat_ && extensions_.pipelining) SendBdat();
}

void SmtpClient::SendBdat() {
  // RFC 3030 §2: the whole body as one last chunk (the body is CRLF-clean).
  PlaceBody();
  absl::StrAppend(&output_, "BDAT ", message_.body.size(), " LAST\r\n");
  body_pending_ = !message_.body.empty();  // follows the output as it is (TakeBodyOutput)
  expected_.push_back(Expect::kBdat);
  body_sent_ = true;
}

void SmtpClient::Pump() {
  while (!to_send_.empty() && (extensions_.pipelining || expected_.empty())) {
    Send(to_send_.front().command);
    expected_.push_back(to_send_.front().expect);
    to_send_.pop_front();
  }
}

bool SmtpClient::OnAuthReply(Expect expected, const SmtpReply& reply) {
  if (reply.code == 235) {  // RFC 4954 §6
    logged_in_ = true;
    login_password_.assign(login_password_.size(), '\0');
    QueueTransaction();
    return true;
  }
  if (reply.code == 334 && !extensions_.auth_plain && expected != Expect::kAuthPassword) {
    // LOGIN: "Username:", then "Password:", each answered in base64.
    const bool user = expected == Expect::kAuth;
    Send(absl::StrCat(EncodeSaslBase64(user ? login_user_ : login_password_), "\r\n"));
    expected_.push_back(user ? Expect::kAuthUser : Expect::kAuthPassword);
    return true;
  }
  // Refused (535 bounces the message, a 4xx defers it), or a reply nobody expected.
  SmtpReply deciding = reply;
  if (reply.code_class() != 4 && reply.code_class() != 5) {
    deciding = LocalReply(0, "4.7.0", absl::StrCat("unexpected reply to AUTH: ", reply.Summary()));
  }
  FailMessageAndSession(deciding, absl::StrCat("login refused: ", reply.Summary()));
  return false;
}

void SmtpClient::FailMessageAndSession(const SmtpReply& deciding, const std::string& reason) {
  deciding_ = deciding;
  has_deciding_ = true;
  phase_ = Phase::kFailed;  // before the callback: nothing new may start
  FinishMessage();
  Send("QUIT\r\n");
  events_.OnSessionFailed(reason);
}

void SmtpClient::OnTransactionReply(Expect expected, const SmtpReply& reply) {
  const bool ok = reply.code_class() == 2;
  switch (expected) {
    case Expect::kAuth:
    case Expect::kAuthUser:
    case Expect::kAuthPassword:
      if (!OnAuthReply(expected, reply)) return;
      break;
    case Expect::kRset:
      if (!ok) return Fail(absl::StrCat("RSET: ", reply.Summary()), /*send_quit=*/true);
      needs_rset_ = false;
      break;
    case Expect::kMail:
      if (!ok) {
        mail_failed_ = true;
        deciding_ = reply;
        has_deciding_ = true;
        if (!extensions_.pipelining) to_send_.clear();  // no RCPT after a refused MAIL
      }
      break;
    case Expect::kRcpt: {
      const size_t i = rcpt_replies_++;
      RP_CHECK_LT(i, results_.size());
      if (mail_failed_) break;  // RFC 2920: the 503s after a refused MAIL say nothing new
      if (ok) {
        accepted_.push_back(i);
      } else {
        results_[i] = ResultOf(reply);
        decided_[i] = true;
      }
      // Without pipelining, DATA goes only when somebody was accepted.
      if (!extensions_.pipelining && rcpt_replies_ == results_.size() && accepted_.empty()) to_send_.clear();
      break;
    }
    case Expect::kData:
      if (reply.code == 354) {
        if (mail_failed_ || accepted_.empty()) {
          // A server that opens DATA with nobody to deliver to: end it empty.
          Send(".\r\n");
          expected_.push_back(Expect::kBodyIgnored);
        } else {
          SendBody();
        }
      } else if (!mail_failed_) {
        deciding_ = reply;  // the accepted recipients hear the refusal of DATA
        has_deciding_ = true;
      }
      break;
    case Expect::kBody:
    case Expect::kBdat:
      // A pipelined BDAT after a refused MAIL hears a 503 that says nothing new.
      if (!mail_failed_) {
        deciding_ = reply;
        has_deciding_ = true;
      }
      if (!ok) needs_rset_ = true;
      break;
    case Expect::kBodyIgnored:
      break;
    case Expect::kQuit:
      RP_CHECK(false);  // QUIT is never part of a transaction
  }
  if (phase_ != Phase::kTransaction) return;
  if (!expected_.empty() || !to_send_.empty()) return Pump();
  // Every reply of the commands sent is in.
  if (!body_sent_ && use_bdat_ && !mail_failed_ && !accepted_.empty()) return SendBdat();
  // A transaction that MAIL opened and no final reply closed is reset before the next.
  if (!body_sent_ && !mail_failed_) needs_rset_ = true;
  FinishMessage();
}

void SmtpClient::SendBody() {
  DotStuffer stuffer;
  // One allocation: stuffing adds a byte per line that starts with a dot, and the end.
  output_.reserve(output_.size() + message_.body.size() + message_.body.size() / 64 + 8);
  stuffer.Stuff(message_.body, &output_);
  stuffer.Finish(&output_);
  expected_.push_back(Expect::kBody);
  body_sent_ = true;
}

void SmtpClient::FinishMessage() {
  PlaceBody();  // a reply ended the message before the body was taken: it still goes
  std::vector<RecipientResult> results = std::move(results_);
  for (size_t i = 0; i < results.size(); ++i) {
    if (decided_[i]) continue;
    if (has_deciding_) {
      results[i] = ResultOf(deciding_);
    } else {
      results[i] = RecipientResult();  // no reply: deferred
      results[i].possible_duplicate = body_sent_;
    }
  }
  spent_body_ = std::move(message_.body);
  message_ = OutboundMessage();
  expected_.clear();
  results_.clear();
  decided_.clear();
  accepted_.clear();
  to_send_.clear();
  ++messages_done_;
  if (phase_ == Phase::kTransaction) phase_ = Phase::kReady;
  events_.OnMessageDone(std::move(results));  // may start the next message
}

void SmtpClient::Quit() {
  RP_CHECK(phase_ == Phase::kReady);
  // RFC 5321 §4.1.1.10; DESIGN.md: an idle connection is closed with QUIT, not dropped.
  Send("QUIT\r\n");
  phase_ = Phase::kQuitting;
}

void SmtpClient::OnConnectionLost() {
  if (phase_ == Phase::kClosed) return;
  const bool in_transaction = phase_ == Phase::kTransaction;
  phase_ = Phase::kClosed;
  if (in_transaction) {
    if (!mail_failed_) has_deciding_ = false;  // the replies that would decide never came
    FinishMessage();
  }
}

void SmtpClient::Fail(const std::string& reason, bool send_quit) {
  const bool in_transaction = phase_ == Phase::kTransaction;
  phase_ = Phase::kFailed;  // before any callback: nothing new may start
  if (in_transaction) {
    if (!mail_failed_) has_deciding_ = false;
    FinishMessage();
  }
  if (send_quit) Send("QUIT\r\n");
  events_.OnSessionFailed(reason);
}

}  // namespace ringpost::net
