// Per-shard SO_REUSEPORT listening sockets, bound on the main thread before the
// shards start (so bind errors are start-up errors, and privileges can be dropped
// afterwards). With port 0 the first socket is bound, its port read back, and the
// other shards' sockets bound to that same port.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/socket_address.h"

namespace ringpost::net {

struct ListenerSet {
  std::vector<core::SocketAddress> bound;  // per address, with the real port
  std::vector<std::vector<int>> fds;       // [address][shard]

  ListenerSet() = default;
  ListenerSet(ListenerSet&&) = default;
  ListenerSet& operator=(ListenerSet&&) = default;
  ~ListenerSet();  // closes fds not taken by a shard (taken ones are set to -1)
};

// `reuse_port` false (one shard only): no SO_REUSEPORT, so a port another process
// holds is an error rather than silently shared with it.
absl::StatusOr<ListenerSet> BindListeners(const std::vector<core::SocketAddress>& addresses, int shard_count,
                                          int backlog, bool reuse_port = true);

}  // namespace ringpost::net
