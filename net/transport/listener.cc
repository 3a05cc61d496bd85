#include "net/transport/listener.h"

#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/check.h"

namespace ringpost::net {
namespace {

absl::StatusOr<int> BindOne(const core::SocketAddress& address, int backlog, bool reuse_port) {
  const int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    const int saved = errno;
    close(fd);
    return absl::ErrnoToStatus(saved, "SO_REUSEPORT");
  }
  if (address.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, address.sockaddr_ptr(), address.length()) != 0) {
    const int saved = errno;
    close(fd);
    return absl::ErrnoToStatus(saved, absl::StrCat("bind ", address.ToString()));
  }
  if (listen(fd, backlog) != 0) {
    const int saved = errno;
    close(fd);
    return absl::ErrnoToStatus(saved, absl::StrCat("listen ", address.ToString()));
  }
  return fd;
}

// SO_REUSEPORT lets every socket that sets it share a port, another daemon's too: it
// would silently take a share of the mail. A socket without it cannot bind a port
// that anything listens on, so a probe tells first.
absl::Status ProbeFree(const core::SocketAddress& address) {
  const int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // a TIME_WAIT port is free
  if (address.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  const int bound = bind(fd, address.sockaddr_ptr(), address.length());
  const int saved = errno;
  close(fd);
  if (bound == 0) return absl::OkStatus();
  if (saved == EADDRINUSE) {
    return absl::AlreadyExistsError(absl::StrCat(address.ToString(), " is already in use (another ringpost?)"));
  }
  return absl::ErrnoToStatus(saved, absl::StrCat("bind ", address.ToString()));
}

}  // namespace

ListenerSet::~ListenerSet() {
  for (auto& per_address : fds) {
    for (int fd : per_address) {
      if (fd >= 0) close(fd);
    }
  }
}

absl::StatusOr<ListenerSet> BindListeners(const std::vector<core::SocketAddress>& addresses, int shard_count,
                                          int backlog, bool reuse_port) {
  if (!reuse_port && shard_count != 1)
    return absl::InvalidArgumentError("one socket per address needs one shard");
  ListenerSet set;
  for (const core::SocketAddress& wanted : addresses) {
    core::SocketAddress address = wanted;
    if (reuse_port && address.port() != 0) RP_RETURN_IF_ERROR(ProbeFree(address));
    set.fds.emplace_back();
    for (int shard = 0; shard < shard_count; ++shard) {
      absl::StatusOr<int> fd = BindOne(address, backlog, reuse_port);
      if (!fd.ok()) return fd.status();
      set.fds.back().push_back(*fd);
      if (shard == 0 && address.port() == 0) {
        // Port 0: every shard must share the port the kernel picked for the first.
        sockaddr_storage actual{};
        socklen_t length = sizeof(actual);
        if (getsockname(*fd, reinterpret_cast<sockaddr*>(&actual), &length) != 0) {
          return absl::ErrnoToStatus(errno, "getsockname");
        }
        address = core::SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&actual), length);
      }
    }
    set.bound.push_back(address);
  }
  return set;
}

absl::StatusOr<UnixListener> UnixListener::Bind(const std::string& path, int backlog) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Unix socket path is 1 to ", sizeof(address.sun_path) - 1, " bytes: '", path, "'"));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  const auto* raw = reinterpret_cast<const sockaddr*>(&address);
  const socklen_t length = sizeof(address);
  std::error_code error;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  if (error) return absl::UnavailableError(absl::StrCat("cannot create ", parent.string(), ": ", error.message()));
  // Someone answering there is another daemon; a socket file nobody answers is stale.
  struct stat info;
  if (lstat(path.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) return absl::AlreadyExistsError(absl::StrCat(path, " exists and is not a socket"));
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool answered = probe >= 0 && connect(probe, raw, length) == 0;
    if (probe >= 0) close(probe);
    if (answered) return absl::AlreadyExistsError(absl::StrCat(path, " is already in use (another ringpost?)"));
    unlink(path.c_str());
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  // The file is created 0600 from the start: bind under a umask that leaves only the
  // owner's bits (start-up is single-threaded, so the umask is ours alone for this).
  const mode_t old_mask = umask(0177);
  const int bound = bind(fd, raw, length);
  const int saved = errno;
  umask(old_mask);
  if (bound != 0 || listen(fd, backlog) != 0) {
    const int failed = bound != 0 ? saved : errno;
    close(fd);
    return absl::ErrnoToStatus(failed, absl::StrCat("bind ", path));
  }
  return UnixListener(path, fd);
}

UnixListener::~UnixListener() {
  if (fd_ >= 0) close(fd_);
  if (!path_.empty()) unlink(path_.c_str());
}

}  // namespace ringpost::net
