// A line-agnostic echo service on the runtime, used by the runtime's tests and the
// echo benchmark. Every received buffer is sent back as it is, straight from the
// receive buffer (zero copy): the buffer stays on loan until its send completed, so a
// client that stops reading makes the server hold buffers, which is exactly the
// back-pressure path the buffer-ring tests need.
#pragma once

#include <memory>

#include "net/transport/connection_table.h"

namespace ringpost::testing {

class EchoService final : public net::Service {
 public:
  std::unique_ptr<net::Session> NewSession(net::Connection& connection) override;
};

}  // namespace ringpost::testing
