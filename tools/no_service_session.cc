#include "tools/no_service_session.h"

#include "absl/strings/str_cat.h"

namespace ringpost::tools {
namespace {

class NoSmtpSession final : public net::Session {
 public:
  explicit NoSmtpSession(const std::string& hostname) : hostname_(hostname) {}
  void OnOpen(net::Connection& connection) override {
    connection.Send(
        absl::StrCat("554 5.3.2 ", hostname_, " ringpost: no SMTP service in this build yet\r\n"));
    connection.CloseAfterSend();
  }
  void OnRecv(net::Connection& connection, core::BufferLoan bytes) override {
    (void)connection;
    (void)bytes;  // nothing a client says changes the answer
  }

 private:
  const std::string& hostname_;
};

}  // namespace

std::unique_ptr<net::Session> NoSmtpService::NewSession(net::Connection& connection) {
  (void)connection;
  return std::make_unique<NoSmtpSession>(hostname_);
}

}  // namespace ringpost::tools
