#include "tools/admin_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/socket_address.h"

namespace ringpost {
namespace {

constexpr size_t kHeadBytesMax = 16 * 1024;

absl::StatusOr<int> Connect(const AdminEndpoint& endpoint) {
  if (!endpoint.tcp.empty()) {
    auto address = core::ParseSocketAddress(endpoint.tcp);
    if (!address.ok()) return address.status();
    const int fd = socket(address->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
    if (connect(fd, address->sockaddr_ptr(), address->length()) != 0) {
      const int saved = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("no daemon answers at ", endpoint.tcp, ": ", strerror(saved)));
    }
    return fd;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (endpoint.unix_path.empty() || endpoint.unix_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad admin socket path '", endpoint.unix_path, "'"));
  }
  std::memcpy(address.sun_path, endpoint.unix_path.data(), endpoint.unix_path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int saved = errno;
    close(fd);
    if (saved == EACCES || saved == EPERM) {
      return absl::PermissionDeniedError(
          absl::StrCat(endpoint.unix_path, ": ", strerror(saved), " (the socket is the daemon user's, mode 0600)"));
    }
    return absl::UnavailableError(absl::StrCat("no daemon answers at ", endpoint.unix_path, ": ", strerror(saved)));
  }
  return fd;
}

bool WriteAll(int fd, const std::string& bytes) {
  for (size_t at = 0; at < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

// The request sent on a connected socket and the answer read back; `reset_unanswered`
// is set when the connection was reset before any byte of an answer came.
absl::StatusOr<AdminReply> Exchange(int fd, const std::string& request, FILE* out, bool* reset_unanswered) {
  // A daemon that refuses the connection (503: too many) answers before reading the
  // request: a failed write still reads what it said.
  WriteAll(fd, request);
  AdminReply reply;
  std::string head;
  bool in_body = false;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    // A daemon that answered before reading the request (503) and closed leaves it
    // unread, so the next read after its answer may be ECONNRESET instead of the end.
    if (n < 0 && in_body) break;
    if (n < 0) {
      const int saved = errno;
      *reset_unanswered = saved == ECONNRESET && head.empty();
      // Not Unavailable: a daemon took the connection (the spool is not read instead).
      return absl::InternalError(absl::StrCat("reading the admin answer: ", strerror(saved)));
    }
    if (n == 0) break;
    absl::string_view bytes(buffer, static_cast<size_t>(n));
    if (!in_body) {
      head.append(bytes.data(), bytes.size());
      const size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (head.size() > kHeadBytesMax) break;
        continue;
      }
      // "HTTP/1.1 200 OK"
      const size_t space = head.find(' ');
      if (space == std::string::npos || !absl::SimpleAtoi(head.substr(space + 1, 3), &reply.status)) break;
      in_body = true;
      bytes = absl::string_view(head).substr(end + 4);
    }
    if (reply.status == 200) {
      std::fwrite(bytes.data(), 1, bytes.size(), out);
    } else {
      reply.error.append(bytes.data(), bytes.size());
    }
  }
  if (!in_body) return absl::DataLossError("the daemon closed the admin connection without an answer");
  while (!reply.error.empty() && reply.error.back() == '\n') reply.error.pop_back();
  return reply;
}

}  // namespace

absl::StatusOr<AdminReply> CallAdmin(const AdminEndpoint& endpoint, const std::string& method,
                                     const std::string& target, const std::string& body, FILE* out) {
  std::string request =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: ringpost\r\nConnection: close\r\n");
  if (!endpoint.token.empty()) absl::StrAppend(&request, "Authorization: Bearer ", endpoint.token, "\r\n");
  if (!body.empty()) {
    absl::StrAppend(&request, "Content-Type: application/json\r\nContent-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  // A daemon killed a moment ago can still take a connection: its io_uring requests
  // hold the listening socket until the kernel tears the ring down, after the process
  // is gone, and that resets what was queued. So a reset before any answer asks again,
  // and a daemon that is really gone then refuses the connection (Unavailable).
  constexpr int kAttempts = 20;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<int> connected = Connect(endpoint);
    if (!connected.ok()) return connected.status();
    bool reset_unanswered = false;
    absl::StatusOr<AdminReply> reply = Exchange(*connected, request, out, &reset_unanswered);
    close(*connected);
    if (!reset_unanswered || attempt == kAttempts) return reply;
    usleep(50 * 1000);
  }
}

}  // namespace ringpost
