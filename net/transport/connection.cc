#include "net/transport/connection.h"
#include "absl/strings/string_view.h"

#include "core/check.h"
#include "core/shard.h"
#include "net/transport/connection_table.h"

namespace ringpost::net {

void Session::OnPeerClosed(Connection& connection) { connection.Close(); }

void Session::OnShutdown(Connection& connection, core::MonoNanos deadline) {
  (void)deadline;
  connection.Close();
}

void Session::OnTlsFailed(Connection& connection, const std::string& error) {
  (void)error;
  connection.CloseAfterSend();
}

core::Shard& Connection::shard() { return table_->shard(); }

void Connection::Send(absl::string_view bytes) {
  if (bytes.empty() || (state_ != State::kOpen && state_ != State::kConnecting)) return;
  if (tls_ == nullptr) return Queue(bytes);
  RP_DCHECK(tls_->open() || tls_->state() == TlsChannel::State::kClosed);
  // Slices keep the channel's output buffer small (a body is sent in one call).
  for (size_t at = 0; at < bytes.size(); at += kTlsSliceBytes) {
    tls_->Write(bytes.substr(at, kTlsSliceBytes));
    QueueTlsOutput();
  }
  if (tls_->state() == TlsChannel::State::kFailed) Close();  // nothing more can be sent
}

void Connection::Queue(absl::string_view bytes) {
  Tail().append(bytes.data(), bytes.size());
  queued_bytes_ += bytes.size();
  table_->ScheduleFlush(*this);
}

std::string& Connection::Tail() {
  // Only a chunk the kernel is not reading may grow: one in the in-flight sendmsg must
  // not move.
  if (out_.empty() || out_.back().loan.valid() || out_.size() <= chunks_in_flight_) {
    out_.push_back(OutChunk{});
    out_.back().bytes.swap(spare_bytes_);
  }
  return out_.back().bytes;
}

void Connection::Send(core::BufferLoan bytes) {
  if (bytes.size() == 0 || (state_ != State::kOpen && state_ != State::kConnecting)) return;
  if (tls_ != nullptr) return Send(bytes.view());  // encrypted into a new chunk; the loan goes back
  queued_bytes_ += bytes.size();
  out_.push_back(OutChunk{std::move(bytes), std::string(), 0});
  table_->ScheduleFlush(*this);
}

void Connection::CloseAfterSend() {
  if (state_ == State::kClosing || state_ == State::kFree) return;
  if (tls_ != nullptr && tls_->open()) {  // close_notify goes last (RFC 8446 §6.1)
    tls_->Shutdown();
    QueueTlsOutput();
  }
  if (out_.empty()) return Close();
  close_after_send_ = true;
}

void Connection::Close() { table_->RequestClose(*this); }

void Connection::StartTls(std::unique_ptr<TlsChannel> channel) {
  RP_CHECK(tls_ == nullptr);
  tls_ = std::move(channel);
  tls_->Start();
  QueueTlsOutput();  // a client's ClientHello
}

void Connection::QueueTlsOutput() {
  if (!tls_->has_output()) return;
  std::string& tail = Tail();  // straight in: one copy out of BoringSSL, not two
  const size_t before = tail.size();
  tls_->TakeOutput(&tail);
  queued_bytes_ += tail.size() - before;
  table_->ScheduleFlush(*this);
}

void Connection::ReceiveEarlyCiphertext(core::BufferLoan ciphertext) {
  RP_CHECK(tls_ != nullptr);
  ReceiveTls(std::move(ciphertext));
}

void Connection::ReceiveTls(core::BufferLoan ciphertext) {
  const TlsChannel::State before = tls_->state();
  if (before == TlsChannel::State::kClosed || before == TlsChannel::State::kFailed || tls_->peer_closed()) {
    return;  // not read
  }
  const bool handshaking = before == TlsChannel::State::kHandshaking;
  std::string plaintext;
  tls_->Feed(ciphertext.view(), &plaintext);
  ciphertext.Reset();  // the receive buffer goes back to the ring now
  QueueTlsOutput();    // handshake records, alerts
  // Each callback may close the connection; nothing is said to a closing one.
  if (handshaking && tls_->state() != TlsChannel::State::kHandshaking && state_ == State::kOpen &&
      tls_->state() != TlsChannel::State::kFailed) {
    session_->OnTlsReady(*this);
  }
  if (!plaintext.empty() && state_ == State::kOpen && tls_->state() != TlsChannel::State::kFailed) {
    // Counted against the connection's loan cap like a receive buffer.
    session_->OnRecv(*this, core::BufferLoan::Owned(std::move(plaintext), &loans_held_));
  }
  if (state_ != State::kOpen) return;
  if (tls_->state() == TlsChannel::State::kFailed) return session_->OnTlsFailed(*this, tls_->error());
  // Only the peer's close_notify; our own (CloseAfterSend from the session's callback)
  // leaves with the output queued before it.
  if (tls_->peer_closed()) session_->OnPeerClosed(*this);
}

void Connection::ArmTimer(core::MonoNanos deadline) {
  if (state_ == State::kClosing || state_ == State::kFree) return;
  shard().timers().Schedule(&timer_, deadline);
}

void Connection::CancelTimer() { shard().timers().Cancel(&timer_); }

void Connection::OnTimerFired(void* context) {
  auto* connection = static_cast<Connection*>(context);
  if (connection->state_ == State::kOpen) connection->session_->OnTimer(*connection);
}

}  // namespace ringpost::net
