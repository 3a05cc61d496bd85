// epoll-echo-server: a plain, well-written epoll echo server, the baseline for the
// runtime's echo benchmark (bench/echo_benchmark.sh). One thread per CPU, each with
// its own SO_REUSEPORT listener and epoll set, level-triggered, one read buffer per
// thread, writes straight back (the same shape as the io_uring echo service).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "core/socket_address.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "ADDR:PORT");
ABSL_FLAG(int, threads, 2, "threads (one listener and epoll set each)");

namespace {

struct Pending {
  std::string bytes;  // echo not yet written (the peer's window was full)
};

void Serve(int listen_fd) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listen_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &event);
  std::vector<epoll_event> events(512);
  std::vector<char> buffer(16384);
  std::unordered_map<int, Pending> pending;
  for (;;) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        for (;;) {
          const int c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          const int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          epoll_event ce{};
          ce.events = EPOLLIN;
          ce.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      auto it = pending.find(fd);
      if ((events[i].events & EPOLLOUT) && it != pending.end()) {
        const ssize_t w = send(fd, it->second.bytes.data(), it->second.bytes.size(), MSG_NOSIGNAL);
        if (w > 0) it->second.bytes.erase(0, static_cast<size_t>(w));
        if (it->second.bytes.empty()) {
          pending.erase(it);
          epoll_event ce{};
          ce.events = EPOLLIN;
          ce.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
        }
        continue;
      }
      if (it != pending.end()) continue;  // back-pressure: do not read more until written
      const ssize_t r = recv(fd, buffer.data(), buffer.size(), 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close(fd);
        continue;
      }
      const ssize_t w = send(fd, buffer.data(), static_cast<size_t>(r), MSG_NOSIGNAL);
      const size_t written = w > 0 ? static_cast<size_t>(w) : 0;
      if (written < static_cast<size_t>(r)) {
        pending[fd].bytes.assign(buffer.data() + written, static_cast<size_t>(r) - written);
        epoll_event ce{};
        ce.events = EPOLLOUT;
        ce.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  auto address = ringpost::core::ParseSocketAddress(absl::GetFlag(FLAGS_listen));
  if (!address.ok()) return 2;
  const int threads = absl::GetFlag(FLAGS_threads);
  std::vector<int> fds;
  for (int t = 0; t < threads; ++t) {
    const int fd = socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, address->sockaddr_ptr(), address->length()) != 0 || listen(fd, 4096) != 0) return 1;
    if (t == 0 && address->port() == 0) {
      sockaddr_storage actual{};
      socklen_t length = sizeof(actual);
      getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &length);
      *address = ringpost::core::SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&actual), length);
    }
    fds.push_back(fd);
  }
  std::printf("listening %s\n", address->ToString().c_str());
  std::fflush(stdout);
  std::vector<std::thread> workers;
  for (int fd : fds) workers.emplace_back(Serve, fd);
  for (auto& w : workers) w.join();
}
