// ringpost-queue's side of the admin API (net/admin/admin_request.h): one blocking
// HTTP/1.1 request over the daemon's Unix socket (or TCP with a bearer token), the
// answer's body streamed to a FILE as it arrives (a listing of a million messages is
// never held in memory).
#pragma once

#include <cstdio>
#include <string>

#include "absl/status/statusor.h"

namespace ringpost {

struct AdminEndpoint {
  std::string unix_path;  // the daemon's --admin_socket, or
  std::string tcp;        // its --admin_listen (ADDR:PORT)
  std::string token;      // sent as "Authorization: Bearer TOKEN" when not empty
};

struct AdminReply {
  int status = 0;
  std::string error;  // the body of an answer other than 200
};

// Unavailable only when nothing accepts the connection (the daemon is not running).
absl::StatusOr<AdminReply> CallAdmin(const AdminEndpoint& endpoint, const std::string& method,
                                     const std::string& target, const std::string& body, FILE* out);

}  // namespace ringpost
