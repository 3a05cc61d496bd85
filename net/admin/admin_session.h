// The admin API's HTTP sessions (DESIGN.md: --admin_socket, --admin_listen,
// --admin_token_file): one request per connection, answered as HTTP/1.1 with
// "Connection: close". Served by one shard from its own listeners; the answers come
// from QueueControl (net/admin/queue_control.h), which asks the shards.
//
// Requests are parsed by HttpRequestReader (limits: 431 for a head over 8 KiB, 413 for
// a body over 64 KiB) and ParseAdminRequest (net/admin/admin_request.h). A listener
// with a token requires "Authorization: Bearer TOKEN" (401 otherwise). At most
// kAdminSessionsMax sessions at once (503 beyond); a request must arrive whole within
// 10 s, and a listing whose reader stops reading for 60 s is cut off. A listing is
// streamed page by page, a page only once the last one was sent, so memory stays
// bounded whatever the queue's size.
#pragma once

#include <memory>
#include <string>

#include "net/admin/queue_control.h"
#include "net/transport/connection.h"
#include "net/transport/connection_table.h"

namespace ringpost::net {

inline constexpr size_t kAdminSessionsMax = 64;

class AdminService final : public Service {
 public:
  // `token`: empty when the listener needs none (the Unix socket: its file mode is the
  // access control).
  AdminService(QueueControl& control, std::string token) : control_(control), token_(std::move(token)) {}
  std::unique_ptr<Session> NewSession(Connection& connection) override;

  QueueControl& control() { return control_; }
  const std::string& token() const { return token_; }
  size_t& sessions() { return sessions_; }

 private:
  QueueControl& control_;
  const std::string token_;
  size_t sessions_ = 0;
};

}  // namespace ringpost::net
