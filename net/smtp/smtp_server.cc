#include "net/smtp/smtp_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/check.h"
#include "core/dsn_params.h"
#include "net/smtp/sasl.h"

namespace ringpost::net {
namespace {

// A DSN parameter that does not parse (RFC 3461): 501 naming what is expected.
std::string BadParam(const absl::Status& status) {
  return absl::StrCat("501 5.5.4 Bad DSN parameter: ", status.message(), "\r\n");
}

// A parameter given twice (SIZE=1 SIZE=2, BODY=7BIT BODY=8BITMIME) leaves its meaning
// uncertain, so the command is refused. Returns the repeated keyword, or "".
std::string RepeatedParam(const std::vector<EsmtpParam>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (params[i].keyword == params[j].keyword) return params[i].keyword;
    }
  }
  return "";
}

constexpr size_t kHeloBytesMax = 255;
constexpr absl::string_view kCommandLetters = "EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY";

std::string FormatParams(const std::vector<EsmtpParam>& params) {
  std::string text;
  for (const EsmtpParam& p : params) {
    if (!text.empty()) text += ' ';
    absl::StrAppend(&text, p.keyword, p.has_value ? "=" : "", p.value);
  }
  return text;
}

}  // namespace

SmtpServer::SmtpServer(const SmtpServerOptions& options, const RecipientPolicy& relay, SmtpClientInfo client,
                       SmtpServerHandler& handler)
    : options_(options),
      relay_(relay),
      client_(std::move(client)),
      handler_(handler),
      lines_(options.command_line_bytes_max),
      data_(options.bare_line_endings) {
  RP_CHECK_GE(options_.command_line_bytes_max, 512u);  // RFC 5321 §4.5.3.1.4
  RP_CHECK_GT(options_.errors_max, 0u);
}

SmtpServer::~SmtpServer() {
  // Owners whose handler dies with them call Detach() first; others (tests) outlive us.
  if (message_open_) handler_.AbortMessage();
}

void SmtpServer::Detach() {
  if (message_open_) handler_.AbortMessage();
  message_open_ = false;
  pieces_.clear();
  carry_.clear();
  phase_ = Phase::kClosed;
}

void SmtpServer::Greet() {
  RP_CHECK(phase_ == Phase::kGreeting);
  absl::StrAppend(&output_, "220 ", options_.hostname, " ESMTP ringpost\r\n");
  phase_ = Phase::kCommand;
}

std::string SmtpServer::TakeOutput() {
  std::string out;
  out.swap(output_);
  return out;
}

size_t SmtpServer::Feed(absl::string_view input, absl::Time now) {
  size_t consumed = 0;
  while (consumed < input.size()) {
    const absl::string_view rest = input.substr(consumed);
    switch (phase_) {
      case Phase::kClosed:
        pieces_.clear();
        return input.size();  // after the last reply nothing is read
      case Phase::kAwaitingCommit:
        RP_DCHECK(pieces_.empty());  // FinishMessage flushed them
        return consumed;             // the reply to the data must go first (RFC 2920 §3.1: in order)
      case Phase::kStartingTls:
        // CVE-2011-0411: bytes that came after STARTTLS in plaintext were sent before
        // the client could have seen our 220. They are dropped, never run under TLS.
        return input.size();
      case Phase::kGreeting:
        // RFC 5321 §4.3.1: the client waits for the greeting; one that talks first is
        // a spam engine, not an MTA.
        Close(absl::StrCat("554 5.5.0 ", options_.hostname, " Error: SMTP protocol synchronization\r\n"));
        return input.size();
      case Phase::kCommand:
        consumed += FeedCommands(rest, now);
        break;
      case Phase::kData:
        consumed += FeedData(rest);
        break;
      case Phase::kBdatChunk:
        consumed += FeedBdat(rest);
        break;
      case Phase::kAuthResponse:
        consumed += FeedSaslResponse(rest);
        break;
      case Phase::kAwaitingLogin:
        return consumed;  // the verdict on the password answers first
    }
  }
  FlushBody(/*final=*/false);
  RP_DCHECK(pieces_.empty());  // views into `input` never outlive the call
  return consumed;
}

size_t SmtpServer::FeedCommands(absl::string_view input, absl::Time now) {
  absl::string_view rest = input;
  while (phase_ == Phase::kCommand) {
    absl::string_view line;
    const LineAssembler::Result result = lines_.Next(&rest, &line);
    if (result == LineAssembler::Result::kNeedMore) break;
    if (result == LineAssembler::Result::kTooLong) {
      // DESIGN.md: nothing of an over-long line's tail ever runs as a command (the
      // assembler skips it up to its LF).
      ++command_lines_;
      ErrorReply("500 5.5.2 Error: line too long\r\n");
      continue;
    }
    OnLine(line, now);
  }
  return input.size() - rest.size();
}

void SmtpServer::OnLine(absl::string_view line, absl::Time now) {
  ++command_lines_;
  if (shutting_down_ && !in_transaction()) {
    return Close(absl::StrCat("421 4.3.2 ", options_.hostname, " Service shutting down\r\n"));
  }
  // The assembler removed the CR of the CRLF; any CR left is bare (RFC 5321 §2.3.8).
  if (line.find_first_of(absl::string_view("\r\0", 2)) != absl::string_view::npos) {
    return ErrorReply("501 5.5.2 Error: bare <CR> or NUL in command\r\n");
  }
  const SmtpCommand command = ParseCommand(line);
  switch (command.verb) {
    case SmtpVerb::kEhlo:
      return OnEhlo(command, /*esmtp=*/true);
    case SmtpVerb::kHelo:
      return OnEhlo(command, /*esmtp=*/false);
    case SmtpVerb::kMail:
      return OnMail(command);
    case SmtpVerb::kRcpt:
      return OnRcpt(command);
    case SmtpVerb::kData:
      if (!command.argument.empty()) return ErrorReply("501 5.5.4 Syntax: DATA\r\n");
      return OnData(now);
    case SmtpVerb::kBdat:
      return OnBdat(command, now);
    case SmtpVerb::kRset:
      return OnRset();
    case SmtpVerb::kNoop:
      return Reply("250 2.0.0 Ok\r\n");
    case SmtpVerb::kQuit:
      return OnQuit();
    case SmtpVerb::kHelp:
      return Reply(absl::StrCat("214 2.0.0 Commands: ", kCommandLetters,
                                client_.tls_offered && tls_.empty() ? " STARTTLS" : "", "\r\n"));
    case SmtpVerb::kVrfy:
      // RFC 5321 §3.5.3: 252 when the server will not say, but will accept mail.
      return Reply("252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery\r\n");
    case SmtpVerb::kExpn:
      return ErrorReply("502 5.5.1 Error: command not implemented\r\n");
    case SmtpVerb::kStartTls:
      return OnStartTls(command);
    case SmtpVerb::kAuth:
      return OnAuth(command);
    case SmtpVerb::kUnknown:
      return ErrorReply("500 5.5.1 Error: command not recognized\r\n");
  }
}

void SmtpServer::OnEhlo(const SmtpCommand& command, bool esmtp) {
  absl::string_view name = command.argument.substr(0, command.argument.find(' '));
  if (name.empty())
    return ErrorReply(esmtp ? "501 5.5.4 Syntax: EHLO hostname\r\n" : "501 5.5.4 Syntax: HELO hostname\r\n");
  // RFC 5321 §4.1.4: EHLO/HELO resets the transaction as RSET does.
  ResetTransaction();
  helo_ = std::string(name.substr(0, kHeloBytesMax));
  esmtp_ = esmtp;
  if (!esmtp) return Reply(absl::StrCat("250 ", options_.hostname, "\r\n"));
  // RFC 2034 §3: no enhanced code on EHLO lines. RFC 3207 §4.2: STARTTLS is not
  // offered again once TLS is on.
  Reply(absl::StrCat("250-", options_.hostname, "\r\n250-PIPELINING\r\n250-SIZE ", options_.message_bytes_max,
                     "\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-DSN\r\n",
                     client_.tls_offered && tls_.empty() ? "250-STARTTLS\r\n" : "",
                     // RFC 4954 §4 and RFC 8314: a password only ever crosses TLS.
                     options_.auth_offered && !tls_.empty() ? "250-AUTH PLAIN LOGIN\r\n" : "",
                     "250 CHUNKING\r\n"));
}

void SmtpServer::OnMail(const SmtpCommand& command) {
  if (helo_.empty()) return ErrorReply("503 5.5.1 Error: send HELO/EHLO first\r\n");
  if (has_mail_) return ErrorReply("503 5.5.1 Error: nested MAIL command\r\n");
  if (client_.auth_required && auth_user_.empty()) {
    return ErrorReply("530 5.7.0 Authentication required\r\n");  // RFC 4954 §6
  }
  auto parsed = ParseMailFrom(command.argument, path_syntax());
  if (!parsed.ok()) return ErrorReply("501 5.1.7 Bad sender address syntax\r\n");
  if (const std::string repeated = RepeatedParam(parsed->params); !repeated.empty()) {
    return ErrorReply(absl::StrCat("501 5.5.4 Parameter ", repeated, " given twice\r\n"));
  }
  if (!parsed->params.empty() && !esmtp_) {
    return ErrorReply("555 5.5.4 Error: parameters need EHLO\r\n");  // RFC 5321 §4.1.1.11
  }
  bool smtputf8 = false;
  for (const EsmtpParam& param : parsed->params) {
    if (param.keyword == "SIZE") {
      uint64_t declared = 0;
      if (!param.has_value || !absl::SimpleAtoi(param.value, &declared)) {
        return ErrorReply("501 5.5.4 Bad SIZE parameter\r\n");
      }
      if (declared > options_.message_bytes_max) {  // RFC 1870 §6
        const std::string reply = "552 5.3.4 Message size exceeds fixed limit\r\n";
        handler_.OnRefused("MAIL", reply);
        return ErrorReply(reply);
      }
    } else if (param.keyword == "BODY") {
      if (!absl::EqualsIgnoreCase(param.value, "7BIT") && !absl::EqualsIgnoreCase(param.value, "8BITMIME")) {
        return ErrorReply("501 5.5.4 Unsupported BODY parameter\r\n");
      }
    } else if (param.keyword == "SMTPUTF8") {
      if (param.has_value) return ErrorReply("501 5.5.4 SMTPUTF8 takes no value\r\n");
      smtputf8 = true;
    } else if (param.keyword == "RET") {  // RFC 3461 §4.3
      core::DsnReturn ret;
      if (absl::Status s = core::ParseRet(param.value, &ret); !s.ok()) return ErrorReply(BadParam(s));
    } else if (param.keyword == "ENVID") {  // RFC 3461 §4.4
      if (absl::Status s = core::CheckEnvid(param.value); !s.ok()) return ErrorReply(BadParam(s));
    } else if (param.keyword == "AUTH" && options_.auth_offered) {  // RFC 4954 §5: kept as given
      if (!param.has_value || param.value.empty()) return ErrorReply("501 5.5.4 Bad AUTH parameter\r\n");
    } else {
      return ErrorReply(absl::StrCat("555 5.5.4 Unsupported option: ", param.keyword, "\r\n"));
    }
  }
  // RFC 6531 §3.4: internationalised addresses only in an SMTPUTF8 transaction.
  if (parsed->path.non_ascii && !smtputf8) {
    return ErrorReply("553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
  }
  has_mail_ = true;
  smtputf8_ = smtputf8;
  mail_from_ = std::move(parsed->path.mailbox);
  mail_params_ = FormatParams(parsed->params);
  Reply("250 2.1.0 Ok\r\n");
}

void SmtpServer::OnRcpt(const SmtpCommand& command) {
  if (!has_mail_) return ErrorReply("503 5.5.1 Error: need MAIL command\r\n");
  if (bdat_transaction_) return ErrorReply("503 5.5.1 Error: RCPT after BDAT\r\n");
  auto parsed = ParseRcptTo(command.argument, path_syntax());
  if (!parsed.ok()) return ErrorReply("501 5.1.3 Bad recipient address syntax\r\n");
  if (const std::string repeated = RepeatedParam(parsed->params); !repeated.empty()) {
    return ErrorReply(absl::StrCat("501 5.5.4 Parameter ", repeated, " given twice\r\n"));
  }
  if (!parsed->params.empty() && !esmtp_) {
    return ErrorReply("555 5.5.4 Error: parameters need EHLO\r\n");  // RFC 5321 §4.1.1.11
  }
  for (const EsmtpParam& param : parsed->params) {
    if (param.keyword == "NOTIFY") {  // RFC 3461 §4.1
      uint8_t notify = 0;
      if (absl::Status s = core::ParseNotify(param.value, &notify); !s.ok()) return ErrorReply(BadParam(s));
    } else if (param.keyword == "ORCPT") {  // RFC 3461 §4.2
      if (absl::Status s = core::CheckOrcpt(param.value); !s.ok()) return ErrorReply(BadParam(s));
    } else {
      return ErrorReply(absl::StrCat("555 5.5.4 Unsupported option: ", param.keyword, "\r\n"));
    }
  }
  if (parsed->path.non_ascii && !smtputf8_) {
    return ErrorReply("553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
  }
  if (recipients_.size() >= options_.recipients_max) {
    // RFC 5321 §4.5.3.1.10: the client sends the rest in a later transaction.
    return Reply("452 4.5.3 Error: too many recipients\r\n");
  }
  const MailPath& path = parsed->path;
  switch (relay_.Check(path.local_part(), path.domain(), may_relay())) {
    case RcptVerdict::kAccept:
      break;
    case RcptVerdict::kRelayDenied: {
      const std::string reply = absl::StrCat("554 5.7.1 <", path.mailbox, ">: Relay access denied\r\n");
      handler_.OnRefused("RCPT", reply);
      return ErrorReply(reply);
    }
    case RcptVerdict::kUnsafeLocalPart: {
      const std::string reply =
          absl::StrCat("550 5.1.1 <", path.mailbox, ">: Recipient address rejected: unsafe local part\r\n");
      handler_.OnRefused("RCPT", reply);
      return ErrorReply(reply);
    }
    case RcptVerdict::kUnknownLocalUser: {
      const std::string reply =
          absl::StrCat("550 5.1.1 <", path.mailbox, ">: Recipient address rejected: User unknown\r\n");
      handler_.OnRefused("RCPT", reply);
      return ErrorReply(reply);
    }
    case RcptVerdict::kNoPostmaster: {
      const std::string reply = absl::StrCat(
          "550 5.1.1 <", path.mailbox,
          ">: Recipient address rejected: no postmaster here (set --postmaster or --local_domains)\r\n");
      handler_.OnRefused("RCPT", reply);
      return ErrorReply(reply);
    }
  }
  SmtpRecipient recipient;
  // <postmaster> is this host's postmaster (RFC 5321 §4.5.1): stored as the address that
  // receives it, so a bare local part (or a source-routed one) is never routed anywhere.
  recipient.address = path.is_postmaster ? relay_.postmaster() : path.mailbox;
  recipient.params = FormatParams(parsed->params);
  recipients_.push_back(std::move(recipient));
  Reply("250 2.1.5 Ok\r\n");
}

void SmtpServer::OnData(absl::Time now) {
  if (!has_mail_) return ErrorReply("503 5.5.1 Error: need MAIL command\r\n");
  if (bdat_transaction_) return ErrorReply("503 5.5.1 Error: DATA in a BDAT transaction\r\n");
  // RFC 5321 §3.3: DATA without a valid recipient.
  if (recipients_.empty()) return ErrorReply("554 5.5.1 Error: no valid recipients\r\n");
  if (std::string refusal = StartMessage(now); !refusal.empty()) {
    handler_.OnRefused("DATA", refusal);
    return Reply(refusal);
  }
  data_.Reset();
  phase_ = Phase::kData;
  Reply("354 End data with <CR><LF>.<CR><LF>\r\n");
}

void SmtpServer::OnBdat(const SmtpCommand& command, absl::Time now) {
  // RFC 3030 §2: "BDAT" SP chunk-size [ SP end-marker ] (extra blanks are forgiven).
  std::vector<absl::string_view> words =
      absl::StrSplit(command.argument, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  const absl::string_view size_text = words.empty() ? "" : words[0];
  const absl::string_view marker = words.size() > 1 ? words[1] : "";
  uint64_t size = 0;
  if (words.empty() || words.size() > 2 || size_text.size() > 19 ||
      !std::all_of(size_text.begin(), size_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(size_text, &size) || (!marker.empty() && !absl::EqualsIgnoreCase(marker, "LAST"))) {
    // Without the chunk's length the stream cannot be followed: its bytes would run as
    // commands (smuggling through a sloppy relay). Answer and close.
    return Close("501 5.5.4 Syntax: BDAT count [LAST]\r\n");
  }
  if (size > options_.message_bytes_max) {
    // A chunk that could never be taken is not read (it could be gigabytes): answered
    // at once, and the session ends, since its bytes must never run as commands.
    handler_.OnRefused("BDAT", "552 5.3.4 chunk exceeds fixed maximum message size");
    return Close("552 5.3.4 Error: chunk exceeds fixed maximum message size\r\n");
  }
  bdat_last_ = !marker.empty();
  bdat_remaining_ = size;
  bdat_refusal_.clear();
  if (!bdat_transaction_) {
    // The chunk is read (and dropped) even when the command is refused, to stay in step.
    if (!has_mail_) {
      bdat_refusal_ = "503 5.5.1 Error: need MAIL command\r\n";
    } else if (recipients_.empty()) {
      bdat_refusal_ = "554 5.5.1 Error: no valid recipients\r\n";
    } else {
      bdat_transaction_ = true;
      message_error_ = StartMessage(now);
    }
  }
  if (bdat_transaction_ && message_error_.empty() && message_bytes_ + size > options_.message_bytes_max) {
    message_error_ = "552 5.3.4 Error: message exceeds fixed maximum message size\r\n";
  }
  phase_ = Phase::kBdatChunk;
  if (size == 0) ChunkDone();
}

void SmtpServer::OnRset() {
  ResetTransaction();
  Reply("250 2.0.0 Ok\r\n");
}

void SmtpServer::OnStartTls(const SmtpCommand& command) {
  if (!tls_.empty()) return ErrorReply("503 5.5.1 Error: TLS already active\r\n");  // RFC 3207 §4.2
  if (!client_.tls_offered) return ErrorReply("454 4.7.0 TLS not available\r\n");
  if (!command.argument.empty()) return ErrorReply("501 5.5.4 Syntax: STARTTLS\r\n");  // RFC 3207 §4
  // A transaction begun in plaintext does not carry over into TLS.
  if (in_transaction()) return ErrorReply("503 5.5.1 Error: MAIL transaction in progress\r\n");
  Reply("220 2.0.0 Ready to start TLS\r\n");
  phase_ = Phase::kStartingTls;
  lines_.Reset();  // a partial line after STARTTLS is dropped with the rest
}

void SmtpServer::OnImplicitTls(std::string description) {
  RP_CHECK(phase_ == Phase::kGreeting);
  tls_ = std::move(description);
}

void SmtpServer::OnTlsStarted(std::string description) {
  RP_CHECK(phase_ == Phase::kStartingTls);
  // RFC 3207 §4.2: the server discards any knowledge obtained from the client (the
  // EHLO argument) and the client must send EHLO again.
  ResetTransaction();
  helo_.clear();
  esmtp_ = false;
  tls_ = std::move(description);
  phase_ = Phase::kCommand;
  if (shutting_down_) Close(absl::StrCat("421 4.3.2 ", options_.hostname, " Service shutting down\r\n"));
}

// RFC 4954 §4: AUTH mechanism [initial-response]; RFC 4616 (PLAIN); LOGIN as clients
// have used it since 1990s Outlook: "334 Username:", "334 Password:" in base64.
void SmtpServer::OnAuth(const SmtpCommand& command) {
  if (!options_.auth_offered) return ErrorReply("502 5.5.1 Error: authentication not enabled\r\n");
  if (helo_.empty() || !esmtp_) return ErrorReply("503 5.5.1 Error: send EHLO first\r\n");
  if (tls_.empty()) {
    return ErrorReply("538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  }
  if (!auth_user_.empty()) return ErrorReply("503 5.5.1 Error: already authenticated\r\n");
  if (in_transaction()) return ErrorReply("503 5.5.1 Error: MAIL transaction in progress\r\n");
  const std::vector<absl::string_view> words = absl::StrSplit(command.argument, ' ');
  if (words.size() > 2 || words[0].empty()) {
    return ErrorReply("501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
  }
  const bool plain = absl::EqualsIgnoreCase(words[0], "PLAIN");
  if (!plain && !absl::EqualsIgnoreCase(words[0], "LOGIN")) {
    return ErrorReply("504 5.5.4 Unrecognized authentication type\r\n");
  }
  sasl_ = plain ? SaslStep::kPlain : SaslStep::kLoginUser;
  phase_ = Phase::kAuthResponse;
  if (words.size() == 2) return OnSaslResponse(words[1]);  // the initial response
  Reply(plain ? "334 \r\n" : "334 VXNlcm5hbWU6\r\n");      // LOGIN: "Username:"
}

size_t SmtpServer::FeedSaslResponse(absl::string_view input) {
  absl::string_view rest = input;
  absl::string_view line;
  const LineAssembler::Result result = lines_.Next(&rest, &line);
  if (result == LineAssembler::Result::kNeedMore) return input.size() - rest.size();
  ++command_lines_;
  if (result == LineAssembler::Result::kTooLong) {
    AuthFailed("500 5.5.6 Authentication Exchange line is too long\r\n");  // RFC 4954 §4
  } else {
    OnSaslResponse(line);
  }
  return input.size() - rest.size();
}

void SmtpServer::OnSaslResponse(absl::string_view line) {
  if (line == "*") return AuthFailed("501 5.7.0 Authentication cancelled\r\n");  // RFC 4954 §4
  absl::StatusOr<std::string> decoded = DecodeSaslBase64(line);
  if (!decoded.ok()) return AuthFailed("501 5.5.2 Error: cannot decode response\r\n");
  switch (sasl_) {
    case SaslStep::kPlain: {
      absl::StatusOr<SaslCredentials> credentials = ParseSaslPlain(*decoded);
      if (absl::IsPermissionDenied(credentials.status())) {
        return AuthFailed("535 5.7.8 Error: authentication failed\r\n");
      }
      if (!credentials.ok()) return AuthFailed("501 5.5.2 Error: malformed PLAIN response\r\n");
      return AskLogin(std::move(credentials->user), std::move(credentials->password));
    }
    case SaslStep::kLoginUser:
      if (!CheckSaslField(*decoded).ok()) return AuthFailed("501 5.5.2 Error: malformed user name\r\n");
      sasl_user_ = *std::move(decoded);
      sasl_ = SaslStep::kLoginPassword;
      return Reply("334 UGFzc3dvcmQ6\r\n");  // "Password:"
    case SaslStep::kLoginPassword:
      if (!CheckSaslField(*decoded).ok()) return AuthFailed("501 5.5.2 Error: malformed password\r\n");
      return AskLogin(std::exchange(sasl_user_, std::string()), *std::move(decoded));
    case SaslStep::kNone:
      break;
  }
  RP_CHECK_MSG(false, "a SASL response outside an exchange");
}

void SmtpServer::AskLogin(std::string user, std::string password) {
  sasl_ = SaslStep::kNone;
  phase_ = Phase::kAwaitingLogin;
  login_user_ = std::move(user);
  handler_.CheckLogin(login_user_, password);
}

void SmtpServer::AuthFailed(absl::string_view reply) {
  sasl_ = SaslStep::kNone;
  sasl_user_.clear();
  phase_ = Phase::kCommand;
  ErrorReply(reply);
}

void SmtpServer::OnLoginChecked(LoginVerdict verdict) {
  RP_CHECK(phase_ == Phase::kAwaitingLogin);
  phase_ = Phase::kCommand;
  switch (verdict) {
    case LoginVerdict::kAccepted:
      auth_user_ = std::exchange(login_user_, std::string());
      Reply("235 2.7.0 Authentication successful\r\n");
      break;
    case LoginVerdict::kRefused:
      login_user_.clear();
      ErrorReply("535 5.7.8 Error: authentication failed\r\n");
      break;
    case LoginVerdict::kRefusedAndClosing:
      login_user_.clear();
      Close(absl::StrCat("421 4.7.0 ", options_.hostname, " Error: too many failed logins\r\n"));
      return;
  }
  DrainAfterTransaction();
}

void SmtpServer::OnQuit() {
  ResetTransaction();
  Close("221 2.0.0 Bye\r\n");
}

void SmtpServer::OnTimeout() {
  // The log, or the password check, answers first.
  if (phase_ == Phase::kAwaitingCommit || phase_ == Phase::kAwaitingLogin || phase_ == Phase::kClosed) return;
  Close(absl::StrCat("421 4.4.2 ", options_.hostname, " Error: timeout exceeded\r\n"));
}

void SmtpServer::OnShutdown() {
  shutting_down_ = true;
  if (phase_ == Phase::kClosed || in_transaction()) return;  // finishes first (DrainAfterTransaction)
  Close(absl::StrCat("421 4.3.2 ", options_.hostname, " Service shutting down\r\n"));
}

void SmtpServer::DrainAfterTransaction() {
  if (shutting_down_ && phase_ == Phase::kCommand && !in_transaction()) {
    Close(absl::StrCat("421 4.3.2 ", options_.hostname, " Service shutting down\r\n"));
  }
}

void SmtpServer::ResetTransaction() {
  if (message_open_) {
    handler_.AbortMessage();
    message_open_ = false;
  }
  has_mail_ = false;
  mail_from_.clear();
  mail_params_.clear();
  smtputf8_ = false;
  recipients_.clear();
  bdat_transaction_ = false;
  message_bytes_ = 0;
  message_error_.clear();
  pieces_.clear();
  carry_ = std::string();  // a dripped message's buffer goes back
}

void SmtpServer::Reply(absl::string_view reply) {
  RP_DCHECK(absl::EndsWith(reply, "\r\n"));
  output_.append(reply.data(), reply.size());
}

void SmtpServer::ErrorReply(absl::string_view reply) {
  Reply(reply);
  if (++errors_ >= options_.errors_max) {
    ResetTransaction();
    Close(absl::StrCat("421 4.7.0 ", options_.hostname, " Error: too many errors\r\n"));
  }
}

void SmtpServer::Close(absl::string_view reply) {
  if (message_open_) {
    handler_.AbortMessage();
    message_open_ = false;
  }
  pieces_.clear();
  carry_ = std::string();
  Reply(reply);
  phase_ = Phase::kClosed;
}

}  // namespace ringpost::net
