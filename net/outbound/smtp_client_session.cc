#include "net/outbound/smtp_client_session.h"

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/shard.h"

namespace ringpost::net {
namespace {
// Output at least this big (a message body) is handed to the connection, not copied.
constexpr size_t kHandOverBytes = 16 * 1024;
}  // namespace

OutboundSession::OutboundSession(OutboundOwner& owner, const OutboundSessionOptions& options, OutboundTls tls)
    : owner_(owner), options_(options), client_(options.client, *this), tls_(std::move(tls)) {
  if (options_.tls_client == nullptr) tls_.policy = TlsPolicy::kNone;
  client_.set_tls_policy(tls_.policy);
  if (tls_.login.has_value()) client_.set_login(tls_.login->user, tls_.login->password);
}

OutboundSession::~OutboundSession() {
  // The connection is being freed: whatever was in flight is lost, and the owner hears
  // it before the pointer dies.
  client_.OnConnectionLost();
  Closed(failure_.empty() ? "connection closed" : failure_);
}

void OutboundSession::Deliver(OutboundMessage message) {
  RP_CHECK(ready());
  ++deliver_depth_;
  client_.StartMessage(std::move(message));  // may finish at once (refused before sending)
  Flush();
  --deliver_depth_;
  // Readiness that arose inside is announced here, in a loop rather than by recursion:
  // an owner that delivers from OnReady to a server that refuses everything locally
  // (SIZE too small) must not grow the stack per message.
  if (deliver_depth_ > 0 || announcing_ready_) return;
  announcing_ready_ = true;
  while (ready_pending_ && ready()) {
    ready_pending_ = false;
    owner_.OnReady(*this);
  }
  announcing_ready_ = false;
}

void OutboundSession::Quit() {
  RP_CHECK(ready());
  client_.Quit();
  Flush();
}

void OutboundSession::OnOpen(Connection& connection) {
  connection_ = &connection;
  // The greeting is the first reply to wait for.
  connection.ArmTimer(connection.shard().now() + options_.reply_timeout_nanos);
}

void OutboundSession::OnRecv(Connection& connection, core::BufferLoan bytes) {
  (void)connection;
  client_.Feed(bytes.view());        // the engine copies what it keeps: the buffer goes back now
  if (tls_ready_) TakeTlsSession();  // TLS 1.3 tickets come after the handshake
  Flush();
}

void OutboundSession::OnStartTls() {
  // Called from inside Feed: the rest of the plaintext is already dropped, and every
  // byte received from now on goes through TLS.
  connection_->StartTls(TlsChannel::NewClient(options_.tls_client, tls_.sni, tls_.resume.get()));
  tls_.resume.reset();  // BoringSSL took its own reference
}

void OutboundSession::OnTlsReady(Connection& connection) {
  tls_summary_ = connection.tls()->summary();
  tls_ready_ = true;
  TakeTlsSession();
  client_.OnTlsStarted();  // EHLO again
  Flush();
}

void OutboundSession::OnTlsFailed(Connection& connection, const std::string& error) {
  (void)connection;
  // Only a failed handshake says the host cannot do TLS; a broken stream later is a
  // lost connection like any other.
  if (!Handshaking()) return Lose(absl::StrCat("TLS failed: ", error));
  owner_.OnTlsFailed(*this, error);
  Lose(absl::StrCat("TLS handshake failed: ", error));
}

void OutboundSession::TakeTlsSession() {
  if (connection_ == nullptr || connection_->mutable_tls() == nullptr) return;
  if (bssl::UniquePtr<SSL_SESSION> session = connection_->mutable_tls()->TakeNewSession()) {
    owner_.OnTlsSession(*this, std::move(session));
  }
}

void OutboundSession::OnPeerClosed(Connection& connection) {
  if (Handshaking()) return OnTlsFailed(connection, "the server closed the connection");
  Lose(client_.closed() ? "" : "the server closed the connection");
}

void OutboundSession::OnTimer(Connection& connection) {
  if (Handshaking()) return OnTlsFailed(connection, "timed out");
  Lose("timed out waiting for a reply");
}

bool OutboundSession::Handshaking() const {
  return connection_ != nullptr && connection_->tls() != nullptr && !tls_ready_;
}

void OutboundSession::OnShutdown(Connection& connection, core::MonoNanos deadline) {
  (void)connection;
  (void)deadline;
  if (client_.ready()) return Quit();  // polite, and the table closes it at the deadline anyway
  // A message on its way is given the grace period to finish (cutting it after the
  // final dot would make a possible duplicate); the owner QUITs once it is done, and
  // the table closes whatever is left at the deadline.
  if (client_.in_transaction()) return;
  Lose("shutting down");
}

void OutboundSession::OnConnectFailed(Connection& connection, const absl::Status& status) {
  (void)connection;
  failure_ = std::string(status.message());  // "connect: Connection refused"
}

void OutboundSession::OnSessionReady() { owner_.OnReady(*this); }

void OutboundSession::OnSendDrained(Connection& connection) {
  (void)connection;
  if (sending_body_.empty()) return;
  owner_.OnBodyReturned(*this, std::exchange(sending_body_, std::string()));  // the kernel is done with it
}

void OutboundSession::OnMessageDone(std::vector<RecipientResult> results) {
  if (std::string spent = client_.TakeSpentBody(); !spent.empty())
    owner_.OnBodyReturned(*this, std::move(spent));
  owner_.OnMessageDone(*this, std::move(results));
  // The engine is ready again unless it failed or closed; a message the owner started
  // from the callback is on its way.
  if (!client_.ready() || connection_ == nullptr) return;
  if (deliver_depth_ > 0 || announcing_ready_) {
    ready_pending_ = true;  // Deliver's loop announces it
    return;
  }
  owner_.OnReady(*this);
}

void OutboundSession::OnSessionFailed(const std::string& reason) { failure_ = reason; }

void OutboundSession::Flush() {
  if (connection_ == nullptr) return;
  std::string body = client_.TakeBodyOutput();  // a BDAT body, after the output
  if (client_.output().size() >= kHandOverBytes) {
    // A stuffed DATA body: the connection sends from the engine's buffer itself.
    connection_->Send(core::BufferLoan::Owned(client_.TakeOutput(), nullptr));
  } else if (!client_.output().empty()) {
    connection_->Send(client_.output());  // commands: copied, to go out with what is queued
    client_.ClearOutput();
  }
  if (body.size() >= kHandOverBytes && sending_body_.empty()) {
    // Sent from the buffer the body was read into from the log: no copy in between.
    sending_body_ = std::move(body);
    connection_->Send(core::BufferLoan::Borrowed(sending_body_));
  } else if (body.size() >= kHandOverBytes) {
    connection_->Send(core::BufferLoan::Owned(std::move(body), nullptr));  // one still going out
  } else if (!body.empty()) {
    connection_->Send(body);
    owner_.OnBodyReturned(*this, std::move(body));
  }
  if (client_.wants_close() || client_.closed()) {
    connection_->CloseAfterSend();
    return;
  }
  connection_->ArmTimer(connection_->shard().now() + options_.reply_timeout_nanos);
}

void OutboundSession::Lose(const std::string& reason) {
  if (failure_.empty() && !reason.empty()) failure_ = reason;
  client_.OnConnectionLost();  // reports a message in flight
  if (connection_ != nullptr) connection_->Close();
}

void OutboundSession::Closed(const std::string& reason) {
  if (closed_reported_) return;
  closed_reported_ = true;
  connection_ = nullptr;
  owner_.OnSessionClosed(*this, reason);
}

}  // namespace ringpost::net
