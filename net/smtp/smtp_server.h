// The SMTP server engine (RFC 5321, with PIPELINING RFC 2920, SIZE RFC 1870, 8BITMIME
// RFC 6152, ENHANCEDSTATUSCODES RFC 2034/3463, SMTPUTF8 RFC 6531, CHUNKING RFC 3030 and
// STARTTLS RFC 3207).
//
// Sans-I/O: bytes in (Feed), replies out (TakeOutput), queue actions through a handler,
// time passed in. No sockets, no clock, no logging: the session (smtp_server_session.h)
// drives it from the shard's ring, and tests and the fuzzer drive it from memory.
// One engine per connection, on the connection's shard; not thread-safe.
//
// Flow of a message: DATA (or the first BDAT) asks the handler to BeginMessage (which
// names the queue id) and writes the Received: header; body bytes go to AppendBody in
// gathered pieces, at most one call per Feed (views into the caller's input: valid only
// during the call); the end of the data asks for CommitMessage and the engine stops
// reading until the session reports the outcome with OnCommitted. Only then is the
// 250 (or 451/452) written, so "queued as" always means durable (RFC 5321 §6.1).
//
// Bounded memory: a partial command line is held up to command_line_bytes_max; body
// bytes are never held; replies accumulate only until the session takes them.
// Pipelined commands are answered in order, and whatever the engine wrote during one
// Feed leaves in one send (RFC 2920 §3.1).
//
// STARTTLS: the engine answers "220 2.0.0 Ready to start TLS" and then reads nothing
// more (starting_tls()): every byte after the STARTTLS line, in this Feed or buffered
// by the session, is the session's to drop (CVE-2011-0411), and the session starts the
// handshake. OnTlsStarted resets the session to its state after the greeting; the
// client must EHLO again (RFC 3207 §4.2).
//
// AUTH (RFC 4954, PLAIN and LOGIN): offered in EHLO only under TLS (538 5.7.11 before
// it), once per session and outside a transaction. The engine decodes the exchange
// (net/smtp/sasl.h) and asks the handler to CheckLogin; it reads nothing more until the
// session reports the verdict with OnLoginChecked (the session checks the password off
// its thread and delays failures). A client that logged in may relay, and its mail is
// received "with ESMTPSA" naming the user in the envelope.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "net/smtp/data_reader.h"
#include "net/smtp/header_section.h"
#include "net/smtp/line_assembler.h"
#include "net/smtp/message_id.h"
#include "net/smtp/received_header.h"
#include "net/smtp/recipient_policy.h"
#include "net/smtp/smtp_command.h"

namespace ringpost::net {

// RFC 5322 §2.1.1: a line is at most 998 octets. Longer ones are broken as they arrive
// (kWrap: CRLF and a space inserted, as Postfix's smtp_line_length_limit does on the way
// out, but here before anything, a DKIM signature say, is computed over the body) or
// the message is refused (kReject: 550 5.6.0). Either way no next hop sees a longer one.
enum class LongLines { kWrap, kReject };
inline constexpr size_t kLineOctetsMax = 998;

struct SmtpServerOptions {
  std::string hostname = "localhost";
  uint64_t message_bytes_max = 52428800;  // --max_message_size, advertised in SIZE
  uint32_t recipients_max = 1000;         // --max_recipients
  // RFC 5321 §4.5.3.1.4 allows 512 octets; extensions' parameters make room for more.
  size_t command_line_bytes_max = 2048;
  uint32_t errors_max = 20;  // error replies before "421 4.7.0" and close
  BareLineEndings bare_line_endings = BareLineEndings::kNormalize;  // --bare_lf
  LongLines long_lines = LongLines::kWrap;                          // --long_lines
  uint32_t received_headers_max = 50;                               // more is a loop: 554 5.4.6
  // --strict_envelope: MAIL and RCPT paths only in <>, never a bare address.
  bool strict_envelope = false;
  // --add_missing_headers (the daemon's default: true): mail from a client that may
  // relay gets Date: and Message-ID: at the end of its header section when it has none.
  bool add_missing_headers = false;
  // --auth_users: AUTH PLAIN and LOGIN are offered under TLS. RFC 4954 §4 lets an AUTH
  // line reach 12288 octets: command_line_bytes_max should allow it.
  bool auth_offered = false;
};

// A received message's envelope as the engine took it (RFC 5321 §2.3.1); the session
// stores it in its own form.
struct SmtpRecipient {
  std::string address;
  std::string params;  // ESMTP parameters as received
};
struct SmtpEnvelope {
  std::string queue_id;
  absl::Time arrival;
  std::string client_address;
  std::string helo;
  std::string protocol;  // ESMTP, ESMTPS, UTF8SMTP... (RFC 3848)
  std::string tls;       // "TLSv1.3 TLS_AES_128_GCM_SHA256" or empty
  std::string mail_from;
  std::string mail_params;
  std::vector<SmtpRecipient> recipients;
  std::string message_id;  // the header's value, "" if none (for the accounting log)
  std::string auth_user;   // who logged in (RFC 4954), "" if nobody did
};

// What the engine needs from the queue. Calls happen inside Feed / OnCommitted.
class SmtpServerHandler {
 public:
  virtual ~SmtpServerHandler() = default;
  // A message starts; returns its queue id. ResourceExhausted → 452 4.3.1 (spool
  // full), any other error → 451 4.3.0.
  virtual absl::StatusOr<std::string> BeginMessage() = 0;
  // Body bytes of the open message, in order; the views die when the call returns.
  virtual absl::Status AppendBody(absl::Span<const absl::string_view> pieces) = 0;
  // The body is complete: make the message durable, then call OnCommitted.
  virtual void CommitMessage(SmtpEnvelope envelope) = 0;
  // Forget the open message (refused, reset, or the session ends): it never existed.
  virtual void AbortMessage() = 0;
  // AUTH: is this the user's password? Answer later with SmtpServer::OnLoginChecked
  // (never from inside this call).
  virtual void CheckLogin(const std::string& user, const std::string& password) = 0;
  // A transaction or a recipient was refused; `reply` is what the client got.
  virtual void OnRefused(absl::string_view command, absl::string_view reply) {
    (void)command;
    (void)reply;
  }
};

// Facts about the connection, fixed when it opens.
struct SmtpClientInfo {
  std::string address;  // "192.0.2.1" (no port), for Received: and the envelope
  bool may_relay = false;
  bool tls_offered = false;  // a certificate is configured: EHLO offers STARTTLS
  bool auth_required = false;  // a submission port: no MAIL before AUTH (530 5.7.0)
};

class SmtpServer {
 public:
  // Body bytes reach the log in pieces of at least this much (or a message's last).
  static constexpr size_t kBodyFlushBytesMin = 8192;
  SmtpServer(const SmtpServerOptions& options, const RecipientPolicy& relay, SmtpClientInfo client,
             SmtpServerHandler& handler);
  ~SmtpServer();
  // The session is going away: an open message is aborted (through the handler, which
  // must still be alive) and nothing more is read. Call before destruction.
  void Detach();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  // Writes the 220 greeting. Until it is called, anything the client sends is
  // answered "554 5.5.0" and the connection closes (--greeting_delay).
  void Greet();
  bool greeted() const { return phase_ != Phase::kGreeting; }
  // Before the greeting: the connection is TLS from its first byte (RFC 8314, port
  // 465), so STARTTLS is not offered and AUTH is.
  void OnImplicitTls(std::string description);
  // Consumes client bytes from the front of `input` and returns how many. Stops early
  // while a commit is outstanding (feed the rest after OnCommitted) or once closed.
  size_t Feed(absl::string_view input, absl::Time now);
  // The session's handshake after "220 Ready to start TLS" finished; `description`
  // ("TLSv1.3 TLS_AES_128_GCM_SHA256") goes into Received: and the envelope.
  void OnTlsStarted(std::string description);
  // The outcome of CommitMessage.
  void OnCommitted(const absl::Status& status, absl::string_view queue_id);
  // The verdict on CheckLogin: 235 and the client may relay, or 535, or 421 and the end
  // of the session (too many failures).
  enum class LoginVerdict { kAccepted, kRefused, kRefusedAndClosing };
  void OnLoginChecked(LoginVerdict verdict);
  // The idle or DATA timeout passed: 421 and close.
  void OnTimeout();
  // The server is stopping: an idle session gets 421 now; one in a transaction
  // finishes it and gets 421 right after.
  void OnShutdown();

  // Replies written since the last call, to send as one chunk.
  std::string TakeOutput();
  // The same without a new string per batch: send output(), then ClearOutput() (the
  // buffer keeps its capacity for the next replies).
  absl::string_view output() const { return output_; }
  void ClearOutput() { output_.clear(); }
  bool has_output() const { return !output_.empty(); }
  size_t output_bytes() const { return output_.size(); }
  // The session should close once the output is sent.
  bool closed() const { return phase_ == Phase::kClosed; }
  bool awaiting_commit() const { return phase_ == Phase::kAwaitingCommit; }
  bool awaiting_login() const { return phase_ == Phase::kAwaitingLogin; }
  const std::string& auth_user() const { return auth_user_; }
  // STARTTLS was accepted: send the output, drop every byte not yet fed, handshake.
  bool starting_tls() const { return phase_ == Phase::kStartingTls; }
  const std::string& tls() const { return tls_; }
  // Reading message data (the session uses the longer DATA timeout).
  bool in_data() const { return phase_ == Phase::kData || phase_ == Phase::kBdatChunk; }
  bool in_transaction() const { return has_mail_ || phase_ != Phase::kCommand; }
  // Part of a command line has arrived but not its end: the session gives the whole
  // line one deadline, so a client dripping a byte at a time cannot hold on forever.
  bool in_command_line() const { return phase_ == Phase::kCommand && lines_.in_line(); }
  // Command lines read so far (a new one restarts the line's deadline).
  uint64_t command_lines() const { return command_lines_; }

 private:
  enum class Phase {
    kGreeting,
    kCommand,
    kData,
    kBdatChunk,
    kAwaitingCommit,
    kStartingTls,
    kAuthResponse,   // a SASL response line is due (after a 334)
    kAwaitingLogin,  // the handler is checking the password
    kClosed
  };
  enum class SaslStep { kNone, kPlain, kLoginUser, kLoginPassword };

  size_t FeedCommands(absl::string_view input, absl::Time now);
  size_t FeedData(absl::string_view input);
  size_t FeedBdat(absl::string_view input);
  void OnLine(absl::string_view line, absl::Time now);
  void OnEhlo(const SmtpCommand& command, bool esmtp);
  void OnMail(const SmtpCommand& command);
  void OnRcpt(const SmtpCommand& command);
  void OnData(absl::Time now);
  void OnBdat(const SmtpCommand& command, absl::Time now);
  void OnRset();
  void OnQuit();
  void OnStartTls(const SmtpCommand& command);
  void OnAuth(const SmtpCommand& command);
  size_t FeedSaslResponse(absl::string_view input);
  void OnSaslResponse(absl::string_view line);
  void AskLogin(std::string user, std::string password);
  void AuthFailed(absl::string_view reply);  // ends the exchange with `reply`
  bool may_relay() const { return client_.may_relay || !auth_user_.empty(); }
  PathSyntax path_syntax() const {
    return options_.strict_envelope ? PathSyntax::kAngleBrackets : PathSyntax::kBareAllowed;
  }

  std::string StartMessage(absl::Time now);  // empty, or the refusal to answer
  void ChunkDone();
  void BodyPiece(absl::string_view piece);
  void AddLines(absl::string_view piece);  // BodyPiece's bytes, long lines broken
  void AddPiece(absl::string_view piece);
  void AddMissingHeaders();  // at the end of the header section
  void FlushBody(bool final);  // hands gathered body bytes to the log (small ones wait unless final)
  void FinishMessage();        // the end of DATA or BDAT LAST
  void FailMessage(absl::string_view reply);
  void ResetTransaction();
  void Reply(absl::string_view reply);
  void ErrorReply(absl::string_view reply);
  void Close(absl::string_view reply);
  void DrainAfterTransaction();

  const SmtpServerOptions& options_;
  const RecipientPolicy& relay_;
  const SmtpClientInfo client_;
  SmtpServerHandler& handler_;
  LineAssembler lines_;
  DataReader data_;
  ReceivedHeaderCounter received_;
  MessageIdFinder message_id_;
  HeaderSectionScanner header_section_;
  Phase phase_ = Phase::kGreeting;
  std::string output_;
  uint32_t errors_ = 0;
  uint64_t command_lines_ = 0;
  bool shutting_down_ = false;

  // Session (RFC 5321 §4.1.4): EHLO/HELO starts it and resets any transaction.
  std::string helo_;
  bool esmtp_ = false;
  std::string tls_;  // "TLSv1.3 TLS_AES_128_GCM_SHA256" once STARTTLS succeeded
  std::string auth_user_;  // who logged in; once per session (RFC 4954 §4)
  SaslStep sasl_ = SaslStep::kNone;
  std::string sasl_user_;   // LOGIN's user name, between its two responses
  std::string login_user_;  // asked of the handler, until its verdict

  // Transaction.
  bool has_mail_ = false;
  std::string mail_from_;
  std::string mail_params_;
  bool smtputf8_ = false;
  std::vector<SmtpRecipient> recipients_;

  // The message being received.
  bool message_open_ = false;  // BeginMessage succeeded and it was not committed or aborted
  std::string queue_id_;
  absl::Time arrival_;
  uint64_t message_bytes_ = 0;             // body bytes from the client (after unstuffing)
  size_t line_bytes_ = 0;                  // of the body's current line (since its last LF)
  std::string message_error_;              // the first refusal; later bytes are read and dropped
  std::vector<absl::string_view> pieces_;  // gathered during one Feed
  // The Received: field and body bytes of earlier Feeds, waiting to make kBodyFlushBytesMin.
  std::string carry_;
  bool add_missing_headers_ = false;       // this message may get Date:/Message-ID: (see the options)
  std::string added_headers_;              // what was added (pieces_ may point into it)
  std::string added_message_id_;
  // BDAT (RFC 3030).
  bool bdat_transaction_ = false;  // a BDAT sequence has started
  bool bdat_last_ = false;
  uint64_t bdat_remaining_ = 0;
  std::string bdat_refusal_;  // the chunk is dropped, then this is the reply
};

}  // namespace ringpost::net
