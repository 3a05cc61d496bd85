// A connection from a load balancer (--proxy_protocol_networks): before anything else it
// must send a PROXY protocol header (net/proxy/proxy_header.h) naming the real client.
// Until the header is whole, nothing is answered; a connection that sends something
// else, a malformed header or nothing within --proxy_timeout is closed without a
// greeting. Once the header is read, the SMTP session is made for the client it names
// (admission, relay permission, Received:, logs and accounting all see that address)
// and every callback goes to it; bytes that followed the header in the same read are
// its first input. Owned by the connection, on the connection's shard.
#pragma once

#include <functional>
#include <memory>

#include "core/socket_address.h"
#include "net/proxy/proxy_header.h"
#include "net/transport/connection.h"

namespace ringpost::net {

class ProxiedSession final : public Session {
 public:
  // Makes the session for the client the header names (or the socket's peer, for a
  // header that names none).
  using SessionFactory =
      std::function<std::unique_ptr<Session>(Connection&, const core::SocketAddress& client)>;
  // Told of a refused header (`why`), for the log and the counters.
  using RefusalSink = std::function<void(const Connection&, const std::string& why)>;

  ProxiedSession(core::MonoNanos timeout_nanos, SessionFactory make_session, RefusalSink refused)
      : timeout_nanos_(timeout_nanos), make_session_(std::move(make_session)), refused_(std::move(refused)) {}

  void OnOpen(Connection& connection) override;
  void OnRecv(Connection& connection, core::BufferLoan bytes) override;
  void OnPeerClosed(Connection& connection) override;
  void OnSendDrained(Connection& connection) override;
  void OnTimer(Connection& connection) override;
  void OnShutdown(Connection& connection, core::MonoNanos deadline) override;
  void OnTlsReady(Connection& connection) override;
  void OnTlsFailed(Connection& connection, const std::string& error) override;

 private:
  void Refuse(Connection& connection, const std::string& why);

  const core::MonoNanos timeout_nanos_;
  SessionFactory make_session_;
  RefusalSink refused_;
  ProxyHeaderReader reader_;
  std::unique_ptr<Session> inner_;  // the SMTP session, once the header is read
};

}  // namespace ringpost::net
