// The SMTP client engine for one outbound connection (RFC 5321; PIPELINING RFC 2920,
// SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, CHUNKING RFC 3030).
//
// Sans-I/O: server bytes in (Feed), client bytes out (TakeOutput), outcomes through
// SmtpClientEvents. No sockets, no clock: the outbound session drives it from the
// shard's ring and owns the timeouts (OnConnectionLost covers them too). One engine per
// connection, on its shard; not thread-safe.
//
// A session: greeting → EHLO (HELO when EHLO gets a 5xx) → [STARTTLS → handshake by the
// session → EHLO again, RFC 3207 §4.2] → ready → messages, one at a
// time (StartMessage; OnMessageDone reports every recipient) → QUIT. With PIPELINING,
// MAIL, the RCPTs and DATA leave in one write (RFC 2920 §3.1); with CHUNKING the body
// goes as one "BDAT n LAST", in that same write with PIPELINING (RFC 3030 §4.2), else
// once a recipient was accepted. A transaction that did not end with the final reply
// is reset (RSET) before the next one.
//
// Logging in (set_login, a smarthost's --route_auth): the first message of the session
// starts with AUTH (RFC 4954), PLAIN when the server offers it, else LOGIN, and only
// under TLS: without TLS the message is deferred with 4.7.10 and nothing is sent. A
// refused login decides the message (535: it bounces; 4xx: deferred) and ends the
// session.
//
// Outcomes per recipient: its RCPT reply when that refused it; else the MAIL reply when
// MAIL failed; else the DATA/BDAT/final-dot reply. A connection lost (or timed out)
// before the final reply gives code 0; lost after the final dot was sent, the result is
// also marked possible_duplicate (the server may have taken it: deferred, never
// delivered, never lost).
//
// Bounded: replies go through a 4 KiB line assembler and ReplyParser (1,000 lines, 4 KiB
// of text), so a hostile server's endless reply costs a few KiB, then the session fails.
// Output never holds a bare CR or LF: DATA bodies go through DotStuffer, and BDAT is used
// only for a CRLF-clean body.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "net/smtp/dot_stuffer.h"
#include "net/smtp/line_assembler.h"
#include "net/smtp/smtp_reply.h"

namespace ringpost::net {

struct SmtpClientOptions {
  std::string helo_name = "localhost";  // --hostname: our name in EHLO/HELO
};

// --outbound_tls. Opportunistic: STARTTLS when offered, plaintext otherwise (and when
// the server refuses STARTTLS). Required: a server that does not offer it, or refuses
// it, fails the session (its mail is deferred).
enum class TlsPolicy { kNone, kOpportunistic, kRequired };

struct OutboundMessage {
  std::string mail_from;  // empty: the null sender "<>"
  std::vector<std::string> recipients;
  std::string body;        // the stored form (unstuffed); BDAT sends this buffer itself
  bool eight_bit = false;  // sent with BODY=8BITMIME when the server offers it
  bool smtputf8 = false;   // needs SMTPUTF8: bounced 553 5.6.7 by a server without it
  // RFC 3461 parameters, sent only to a server that offers DSN: " RET=HDRS ENVID=x" for
  // MAIL, and per recipient (empty, or as many as recipients) " NOTIFY=... ORCPT=...".
  std::string mail_dsn;
  std::vector<std::string> recipient_dsn;
};

struct RecipientResult {
  int code = 0;  // the deciding reply's code; 0 when no reply came
  std::string enhanced;
  std::string text;
  bool possible_duplicate = false;  // no reply after the final dot
  std::string Summary() const;
};

// What the server offered in its EHLO reply.
struct ServerExtensions {
  bool esmtp = false;  // EHLO worked (else HELO)
  bool pipelining = false, eight_bit_mime = false, smtputf8 = false, chunking = false, starttls = false;
  bool dsn = false;  // RFC 3461: takes the DSN parameters on (and reports success itself)
  bool auth_plain = false, auth_login = false;  // RFC 4954 AUTH mechanisms
  bool size_offered = false;
  uint64_t size_max = 0;  // 0 with size_offered: no fixed limit
};

class SmtpClientEvents {
 public:
  virtual ~SmtpClientEvents() = default;
  // Greeting and EHLO/HELO done: StartMessage may be called (also from inside here).
  virtual void OnSessionReady() = 0;
  // The message's outcome, one result per recipient in order. The engine is ready
  // again before this runs (unless closed), so the next StartMessage may come from here.
  virtual void OnMessageDone(std::vector<RecipientResult> results) = 0;
  // The session cannot go on (greeting or EHLO/HELO refused, a broken reply, a reply
  // nobody asked for): `reason` says why; the connection should close once the output
  // (maybe a QUIT) is sent. A message in progress was reported first.
  virtual void OnSessionFailed(const std::string& reason) = 0;
  // The server answered STARTTLS with 220: the session starts the handshake now (bytes
  // the server sent after that reply were dropped, CVE-2021-38371) and reports
  // OnTlsStarted when it is done.
  virtual void OnStartTls() {}
};

class SmtpClient {
 public:
  SmtpClient(const SmtpClientOptions& options, SmtpClientEvents& events);
  // Before the greeting arrives. The default is kNone.
  void set_tls_policy(TlsPolicy policy) { tls_policy_ = policy; }
  // Before the greeting arrives: log in with these before the first message.
  void set_login(std::string user, std::string password) {
    login_user_ = std::move(user);
    login_password_ = std::move(password);
  }
  bool logged_in() const { return logged_in_; }

  // Server bytes, in order, any split.
  void Feed(absl::string_view bytes);
  // Precondition: ready().
  void StartMessage(OutboundMessage message);
  // Ends the session politely (the pool's idle timeout): QUIT, then close.
  void Quit();
  // The connection closed or timed out: a message in progress is reported, then the
  // engine is closed.
  void OnConnectionLost();
  // The TLS handshake after STARTTLS finished: EHLO goes again, over TLS.
  void OnTlsStarted();

  // What to send goes out in two parts, in this order: output(), then a BDAT body left
  // in the message's own buffer (TakeBodyOutput), so that a connection can send it
  // without copying it. Nothing is added behind a body that was not taken: when more
  // output comes first (a reply that ended the message early), the body is appended
  // to output() itself.
  std::string TakeOutput();                             // both parts, as one string
  absl::string_view output() const { return output_; }  // send, then ClearOutput()
  void ClearOutput() { output_.clear(); }               // a body not yet taken stays (TakeBodyOutput)
  std::string TakeBodyOutput();  // the body that follows output(); empty when none does
  // The buffer of the last finished message's body when it was not handed over (DATA
  // copies it stuffed), for the caller to read a next body into; empty otherwise.
  std::string TakeSpentBody() { return std::exchange(spent_body_, std::string()); }
  bool has_output() const { return !output_.empty() || body_pending_; }
  bool ready() const { return phase_ == Phase::kReady; }
  bool in_transaction() const { return phase_ == Phase::kTransaction; }
  bool closed() const { return phase_ == Phase::kClosed; }
  // Close once the output is sent (after QUIT's reply, or a failure).
  bool wants_close() const { return phase_ == Phase::kClosed || phase_ == Phase::kFailed; }
  const ServerExtensions& extensions() const { return extensions_; }
  // The greeting or EHLO/HELO reply that refused the session, or null (a mailbox
  // provider may say it is throttling us there).
  const SmtpReply* refusal() const { return refusal_.has_value() ? &*refusal_ : nullptr; }
  bool tls_active() const { return tls_active_; }
  bool awaiting_tls() const { return phase_ == Phase::kTlsHandshake; }
  uint64_t messages_done() const { return messages_done_; }

 private:
  enum class Phase {
    kGreeting,
    kEhlo,
    kHelo,
    kStartTls,
    kTlsHandshake,
    kReady,
    kTransaction,
    kQuitting,
    kFailed,
    kClosed
  };
  enum class Expect {
    kMail,
    kRcpt,
    kData,
    kBody,
    kBodyIgnored,
    kBdat,
    kRset,
    kQuit,
    kAuth,
    kAuthUser,
    kAuthPassword
  };

  void OnReply(const SmtpReply& reply);
  void OnGreeting(const SmtpReply& reply);
  void OnEhlo(const SmtpReply& reply, bool esmtp);
  void OnStartTlsReply(const SmtpReply& reply);
  void OnTransactionReply(Expect expected, const SmtpReply& reply);
  void Pump();  // sends queued commands: all of them with PIPELINING, else one per reply
  void QueueTransaction();                                    // MAIL, the RCPTs, DATA
  bool OnAuthReply(Expect expected, const SmtpReply& reply);  // false: the session ended
  // Every recipient of the message gets `deciding`, and the session ends (`reason`).
  void FailMessageAndSession(const SmtpReply& deciding, const std::string& reason);
  void SendBody();
  void SendBdat();
  void FinishMessage();
  void Fail(const std::string& reason, bool send_quit);
  void Send(absl::string_view bytes) {
    PlaceBody();
    output_.append(bytes.data(), bytes.size());
  }
  void PlaceBody();  // a pending body into output_, before anything that follows it
  // Where the next command of a transaction is written: straight into the output when
  // it may go now (PIPELINING, nothing waiting before it), else into to_send_.
  std::string& NextCommand(Expect expect);
  void AppendMailCommand(std::string* out) const;

  const SmtpClientOptions& options_;
  SmtpClientEvents& events_;
  LineAssembler lines_;
  ReplyParser replies_;
  Phase phase_ = Phase::kGreeting;
  TlsPolicy tls_policy_ = TlsPolicy::kNone;
  bool tls_active_ = false;
  ServerExtensions extensions_;
  std::optional<SmtpReply> refusal_;
  std::string output_;
  std::deque<Expect> expected_;  // replies still to come, in order
  struct Queued {
    std::string command;
    Expect expect;
  };
  std::deque<Queued> to_send_;  // commands not yet sent (without PIPELINING: one per reply)
  bool needs_rset_ = false;     // the last transaction did not end with its final reply
  std::string login_user_, login_password_;  // set_login; empty: no login
  bool logged_in_ = false;

  // The message in progress.
  OutboundMessage message_;
  std::vector<RecipientResult> results_;
  std::vector<bool> decided_;     // results_[i] is final
  std::vector<size_t> accepted_;  // recipients the server took
  size_t rcpt_replies_ = 0;       // RCPT replies seen so far
  bool mail_failed_ = false;
  SmtpReply deciding_;  // the reply that decides the undecided (MAIL, DATA or final)
  bool has_deciding_ = false;
  bool use_bdat_ = false;
  bool body_sent_ = false;     // the final dot (or BDAT LAST) is on its way
  bool body_pending_ = false;  // message_.body follows output_ (BDAT), not yet taken
  std::string spent_body_;     // TakeSpentBody
  uint64_t messages_done_ = 0;
};

}  // namespace ringpost::net
