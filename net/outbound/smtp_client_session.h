// One outbound SMTP connection on a shard: the SmtpClient engine driven by a Connection
// of the shard's ConnectionTable. The delivery driver owns these through the
// OutboundOwner interface; tests drive them directly.
//
// Owned by its Connection (which the table frees after close); single-threaded, on the
// shard that connected it. The owner hears, in order: OnReady whenever the session can
// take a message, OnMessageDone once per message (every recipient), and OnSessionClosed
// exactly once, last; after OnSessionClosed the session pointer must not be used.
// Timeouts (RFC 5321 §4.5.3.2: greeting 5 min, MAIL 5 min, RCPT 5 min, DATA 2 min,
// data block 3 min, final dot 10 min) are simplified to one reply timeout: a server
// silent that long loses the connection, and a message in flight is reported as
// deferred (a possible duplicate after the final dot). At shutdown an idle session
// QUITs and one with a message in flight is left to finish within the grace period.
//
// STARTTLS (--outbound_tls): when the engine has the server's 220, the session starts a
// client TlsChannel on the connection (SNI and name check: OutboundTls::sni; a kept
// session offered for resumption) and tells the engine once the handshake is done. A
// failed handshake ends the session after OnTlsFailed, so the owner can retry the host
// in plaintext (opportunistic) or defer (required).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "net/outbound/route_auth.h"
#include "net/smtp/smtp_client.h"
#include "net/transport/connection_table.h"
#include "net/transport/tls_channel.h"

namespace ringpost::net {

class OutboundSession;

class OutboundOwner {
 public:
  virtual ~OutboundOwner() = default;
  virtual void OnReady(OutboundSession& session) = 0;
  virtual void OnMessageDone(OutboundSession& session, std::vector<RecipientResult> results) = 0;
  virtual void OnSessionClosed(OutboundSession& session, const std::string& reason) = 0;
  // The TLS handshake failed; OnSessionClosed follows.
  virtual void OnTlsFailed(OutboundSession& session, const std::string& error) {
    (void)session;
    (void)error;
  }
  // The server issued a session for resuming later connections to this destination.
  virtual void OnTlsSession(OutboundSession& session, bssl::UniquePtr<SSL_SESSION> tls_session) {
    (void)session;
    (void)tls_session;
  }
  // A delivered message's body buffer, sent (or copied) and no longer needed: kept for
  // reading a next body into, or dropped.
  virtual void OnBodyReturned(OutboundSession& session, std::string body) {
    (void)session;
    (void)body;
  }
};

struct OutboundSessionOptions {
  SmtpClientOptions client;
  core::MonoNanos reply_timeout_nanos = 600 * core::kNanosPerSecond;
  std::shared_ptr<TlsContext> tls_client;  // null: STARTTLS is never used
};

// This connection's TLS: the policy (the owner may lower opportunistic to none for a
// host whose handshake failed), the server name, and a session to resume (may be null).
struct OutboundTls {
  TlsPolicy policy = TlsPolicy::kNone;
  std::string sni;
  bssl::UniquePtr<SSL_SESSION> resume;
  std::optional<RouteLogin> login;  // --route_auth: log in (under TLS) before the first message
};

class OutboundSession final : public Session, private SmtpClientEvents {
 public:
  OutboundSession(OutboundOwner& owner, const OutboundSessionOptions& options, OutboundTls tls = {});
  ~OutboundSession() override;

  // Precondition: ready(). The body's buffer goes back to the owner once it was sent
  // (OnBodyReturned).
  void Deliver(OutboundMessage message);
  // An idle session ends with QUIT (DESIGN.md), then closes.
  void Quit();
  bool ready() const { return client_.ready() && connection_ != nullptr; }
  const ServerExtensions& extensions() const { return client_.extensions(); }
  const SmtpReply* refusal() const { return client_.refusal(); }
  // What the handshake agreed (null in plaintext).
  const TlsSummary* tls() const { return tls_ready_ ? &tls_summary_ : nullptr; }

  // Session.
  void OnOpen(Connection& connection) override;
  void OnRecv(Connection& connection, core::BufferLoan bytes) override;
  void OnPeerClosed(Connection& connection) override;
  void OnTimer(Connection& connection) override;
  void OnShutdown(Connection& connection, core::MonoNanos deadline) override;
  void OnConnectFailed(Connection& connection, const absl::Status& status) override;
  void OnTlsReady(Connection& connection) override;
  void OnTlsFailed(Connection& connection, const std::string& error) override;
  void OnSendDrained(Connection& connection) override;

 private:
  // SmtpClientEvents.
  void OnSessionReady() override;
  void OnMessageDone(std::vector<RecipientResult> results) override;
  void OnSessionFailed(const std::string& reason) override;
  void OnStartTls() override;
  void TakeTlsSession();
  bool Handshaking() const;  // STARTTLS was answered 220 and the handshake is not done

  void Flush();
  void Lose(const std::string& reason);  // the connection is gone or given up
  void Closed(const std::string& reason);

  OutboundOwner& owner_;
  const OutboundSessionOptions& options_;
  SmtpClient client_;
  OutboundTls tls_;
  TlsSummary tls_summary_;
  bool tls_ready_ = false;
  Connection* connection_ = nullptr;
  bool closed_reported_ = false;
  int deliver_depth_ = 0;
  bool ready_pending_ = false;
  bool announcing_ready_ = false;
  std::string failure_;  // why the session ended, when it did not end with QUIT
  std::string sending_body_;  // a BDAT body the connection sends from, until drained
};

}  // namespace ringpost::net
