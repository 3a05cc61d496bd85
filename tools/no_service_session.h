// What the daemon's listeners say until the ESMTP server lands: RFC 5321 §3.1 lets a
// host that offers no SMTP service answer the connection with 554 and close. It is
// honest (no mail is ever accepted) and gives swaks and operators a clear reply.
#pragma once

#include <memory>
#include <string>

#include "net/connection_table.h"

namespace ringpost::tools {

class NoSmtpService final : public net::Service {
 public:
  explicit NoSmtpService(std::string hostname) : hostname_(std::move(hostname)) {}
  std::unique_ptr<net::Session> NewSession(net::Connection& connection) override;

 private:
  std::string hostname_;
};

}  // namespace ringpost::tools
