// The metrics endpoint (--metrics_listen): GET /metrics answers the Prometheus text of
// the shards' MetricsBoard; one request per connection (HTTP/1.0 style: the answer,
// then close). Served by one shard from its own listener. Other paths are 404, other
// methods 405, a malformed head 400, one over 8 KiB 431; a client that sends no whole
// head within 10 s is closed.
#pragma once

#include <memory>

#include "core/metrics.h"
#include "net/transport/connection.h"
#include "net/transport/connection_table.h"
#include "net/admin/http_request.h"

namespace ringpost::net {

// The HTTP answer to a request head (status line, headers and body), pure.
std::string MetricsResponse(HttpRequestReader::Result result, const std::string& method,
                            const std::string& path, const core::MetricsBoard& board);

class MetricsService final : public Service {
 public:
  explicit MetricsService(const core::MetricsBoard& board) : board_(board) {}
  std::unique_ptr<Session> NewSession(Connection& connection) override;

 private:
  const core::MetricsBoard& board_;
};

}  // namespace ringpost::net
