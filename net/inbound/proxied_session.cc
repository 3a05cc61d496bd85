#include "net/inbound/proxied_session.h"

#include <utility>

#include "core/check.h"
#include "core/shard.h"

namespace ringpost::net {

void ProxiedSession::OnOpen(Connection& connection) {
  connection.ArmTimer(connection.shard().now() + timeout_nanos_);
}

void ProxiedSession::OnRecv(Connection& connection, core::BufferLoan bytes) {
  if (inner_ != nullptr) return inner_->OnRecv(connection, std::move(bytes));
  if (connection.closing()) return;
  size_t consumed = 0;
  switch (reader_.Feed(bytes.view(), &consumed)) {
    case ProxyHeaderReader::Result::kNeedMore:
      RP_CHECK_EQ(consumed, bytes.size());
      return;  // the buffer goes back; the reader kept what it needs
    case ProxyHeaderReader::Result::kError:
      return Refuse(connection, reader_.error());
    case ProxyHeaderReader::Result::kDone:
      break;
  }
  const ProxyHeader& header = reader_.header();
  inner_ = make_session_(connection, header.use_socket ? connection.peer() : header.source);
  RP_CHECK(inner_ != nullptr);
  inner_->OnOpen(connection);  // its greeting, its timers
  if (consumed < bytes.size()) {
    // The client's first bytes came in the same read: a copy of the rest, usually a
    // few bytes. On an implicit-TLS port the session has started TLS and they are the
    // ClientHello, for the TLS channel; otherwise a client that did not wait for the
    // greeting, for the session.
    core::BufferLoan rest =
        core::BufferLoan::Owned(std::string(bytes.view().substr(consumed)), /*holder_count=*/nullptr);
    if (connection.tls() != nullptr) return connection.ReceiveEarlyCiphertext(std::move(rest));
    inner_->OnRecv(connection, std::move(rest));
  }
}

void ProxiedSession::Refuse(Connection& connection, const std::string& why) {
  refused_(connection, why);
  connection.Close();  // no greeting: whoever this is did not speak for a client
}

void ProxiedSession::OnPeerClosed(Connection& connection) {
  if (inner_ != nullptr) return inner_->OnPeerClosed(connection);
  connection.Close();
}

void ProxiedSession::OnSendDrained(Connection& connection) {
  if (inner_ != nullptr) inner_->OnSendDrained(connection);
}

void ProxiedSession::OnTimer(Connection& connection) {
  if (inner_ != nullptr) return inner_->OnTimer(connection);
  Refuse(connection, "no PROXY header within --proxy_timeout");
}

void ProxiedSession::OnShutdown(Connection& connection, core::MonoNanos deadline) {
  if (inner_ != nullptr) return inner_->OnShutdown(connection, deadline);
  connection.Close();
}

void ProxiedSession::OnTlsReady(Connection& connection) {
  if (inner_ != nullptr) inner_->OnTlsReady(connection);
}

void ProxiedSession::OnTlsFailed(Connection& connection, const std::string& error) {
  if (inner_ != nullptr) return inner_->OnTlsFailed(connection, error);
  Session::OnTlsFailed(connection, error);
}

}  // namespace ringpost::net
