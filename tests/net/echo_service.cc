#include "tests/net/echo_service.h"

namespace ringpost::testing {
namespace {

class EchoSession final : public net::Session {
 public:
  void OnOpen(net::Connection& connection) override { (void)connection; }
  void OnRecv(net::Connection& connection, core::BufferLoan bytes) override {
    connection.Send(std::move(bytes));
  }
  void OnPeerClosed(net::Connection& connection) override {
    // Finish echoing what we have, then close: a half-closed client still reads.
    connection.CloseAfterSend();
  }
};

}  // namespace

std::unique_ptr<net::Session> EchoService::NewSession(net::Connection& connection) {
  (void)connection;
  return std::make_unique<EchoSession>();
}

}  // namespace ringpost::testing
