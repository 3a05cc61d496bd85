// Per-shard SO_REUSEPORT listening sockets, bound on the main thread before the
// shards start (so bind errors are start-up errors, and privileges can be dropped
// afterwards). With port 0 the first socket is bound, its port read back, and the
// other shards' sockets bound to that same port.
#pragma once

#include <string>
#include <utility>
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

// A Unix stream socket at `path`, mode 0600 (its file mode is the access control),
// its folder created if missing. A socket file that nothing answers on (a daemon that
// died) is replaced; one that answers is another daemon's: AlreadyExists. The file is
// removed when the returned UnixListener is destroyed (a clean stop).
class UnixListener {
 public:
  static absl::StatusOr<UnixListener> Bind(const std::string& path, int backlog);
  UnixListener(UnixListener&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) { other.fd_ = -1; }
  UnixListener& operator=(UnixListener&& other) noexcept {
    std::swap(path_, other.path_);
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~UnixListener();
  const std::string& path() const { return path_; }
  // The listening descriptor, once: its new owner closes it.
  int TakeFd() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  UnixListener(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

}  // namespace ringpost::net
