// ringpost-echo-client: a plain epoll client for the echo tests and benchmark, kept
// independent of the runtime under test.
//
//   --mode=stream: open --connections at once, then on each write --bytes of a
//     per-connection pattern and verify every echoed byte (position and value).
//     --stall_ms: write for that long without reading first (fills the server's
//     buffers: the back-pressure test). --wait_for_close: after verifying, keep the
//     connections open until the server closes them (the shutdown test).
//   --mode=pingpong: each connection sends --message_bytes and waits for the whole
//     echo before the next, for --duration_ms; prints round trips per second.
// Exit status 0 only when every byte came back right.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "core/socket_address.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7", "server ADDR:PORT");
ABSL_FLAG(std::string, mode, "stream", "stream or pingpong");
ABSL_FLAG(int, connections, 100, "concurrent connections");
ABSL_FLAG(uint64_t, bytes, 4096, "stream mode: bytes per connection");
ABSL_FLAG(int, stall_ms, 0, "stream mode: write without reading for this long first");
ABSL_FLAG(bool, wait_for_close, false, "stream mode: then wait until the server closes");
ABSL_FLAG(int, message_bytes, 64, "pingpong mode: bytes per round trip");
ABSL_FLAG(int, duration_ms, 3000, "pingpong mode: how long to run");
ABSL_FLAG(int, timeout_ms, 60000, "give up (and fail) after this long");

namespace {

using Clock = std::chrono::steady_clock;

uint8_t PatternByte(uint64_t connection, uint64_t offset) {
  return static_cast<uint8_t>(offset * 131 + connection * 7 + (offset >> 8));
}

struct Conn {
  int fd = -1;
  uint64_t written = 0;
  uint64_t verified = 0;
  bool done = false;
  bool closed_by_server = false;
  int pending = 0;  // pingpong: bytes of the current echo still expected
};

int Fail(const char* what) {
  std::fprintf(stderr, "echo-client: %s (%s)\n", what, std::strerror(errno));
  return 1;
}

int OpenAll(const ringpost::core::SocketAddress& target, int epoll_fd, std::vector<Conn>& conns) {
  for (size_t i = 0; i < conns.size(); ++i) {
    const int fd = socket(target.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Fail("socket");
    if (connect(fd, target.sockaddr_ptr(), target.length()) != 0) return Fail("connect");
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    conns[i].fd = fd;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.u64 = i;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) return Fail("epoll_ctl");
  }
  return 0;
}

int RunStream(const ringpost::core::SocketAddress& target) {
  const int count = absl::GetFlag(FLAGS_connections);
  const uint64_t total = absl::GetFlag(FLAGS_bytes);
  const bool wait_for_close = absl::GetFlag(FLAGS_wait_for_close);
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(count);
  if (OpenAll(target, epoll_fd, conns) != 0) return 1;
  std::printf("opened %d connections\n", count);
  std::fflush(stdout);
  const auto start = Clock::now();
  const auto stall_until = start + std::chrono::milliseconds(absl::GetFlag(FLAGS_stall_ms));
  const auto deadline = start + std::chrono::milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  std::vector<char> buffer(1 << 16);
  int finished = 0;
  int errors = 0;
  uint64_t stalled_writes = 0;
  std::vector<epoll_event> events(1024);
  while (finished < count) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "echo-client: timed out with %d of %d connections finished\n", finished, count);
      return 1;
    }
    const bool stalling = Clock::now() < stall_until;
    const uint64_t stalled_before = stalled_writes;
    const int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 50);
    for (int e = 0; e < n; ++e) {
      const uint64_t index = events[e].data.u64;
      Conn& c = conns[index];
      if (c.done) continue;
      if ((events[e].events & EPOLLOUT) && c.written < total) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(buffer.size(), total - c.written));
        for (size_t i = 0; i < chunk; ++i) buffer[i] = static_cast<char>(PatternByte(index, c.written + i));
        const ssize_t w = send(c.fd, buffer.data(), chunk, MSG_NOSIGNAL);
        if (w > 0) {
          c.written += static_cast<uint64_t>(w);
          if (stalling) stalled_writes += static_cast<uint64_t>(w);
        }
        if (c.written == total) {
          epoll_event event{};
          event.events = EPOLLIN;
          event.data.u64 = index;
          epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &event);
        }
      }
      if (stalling || !(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      const ssize_t r = recv(c.fd, buffer.data(), buffer.size(), 0);
      if (r == 0 || (r < 0 && errno != EAGAIN)) {
        if (c.verified == total && wait_for_close) {
          c.closed_by_server = true;
        } else {
          std::fprintf(stderr, "echo-client: connection %llu closed after %llu of %llu bytes\n",
                       (unsigned long long)index, (unsigned long long)c.verified, (unsigned long long)total);
          ++errors;
        }
        c.done = true;
        ++finished;
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      for (ssize_t i = 0; i < r; ++i) {
        if (static_cast<uint8_t>(buffer[i]) != PatternByte(index, c.verified + i) ||
            c.verified + i >= total) {
          std::fprintf(stderr, "echo-client: connection %llu: wrong byte at offset %llu\n",
                       (unsigned long long)index, (unsigned long long)(c.verified + i));
          return 1;
        }
      }
      c.verified += static_cast<uint64_t>(r);
      if (c.verified == total && !wait_for_close) {
        c.done = true;
        ++finished;
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
      }
    }
    if (stalling && stalled_writes == stalled_before) usleep(5000);  // blocked: do not spin
    if (wait_for_close) {
      static bool announced = false;
      bool all_verified = true;
      for (const Conn& c : conns) all_verified = all_verified && c.verified == total;
      if (all_verified && !announced) {
        announced = true;
        std::printf("all verified, holding connections open\n");
        std::fflush(stdout);
      }
    }
  }
  uint64_t verified = 0;
  int closed_by_server = 0;
  for (Conn& c : conns) {
    verified += c.verified;
    closed_by_server += c.closed_by_server ? 1 : 0;
    close(c.fd);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "connections=%d bytes_verified=%llu stalled_write_bytes=%llu closed_by_server=%d errors=%d "
      "seconds=%.3f\n",
      count, (unsigned long long)verified, (unsigned long long)stalled_writes, closed_by_server, errors,
      seconds);
  return errors == 0 && verified == total * static_cast<uint64_t>(count) ? 0 : 1;
}

int RunPingPong(const ringpost::core::SocketAddress& target) {
  const int count = absl::GetFlag(FLAGS_connections);
  const int size = absl::GetFlag(FLAGS_message_bytes);
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(count);
  if (OpenAll(target, epoll_fd, conns) != 0) return 1;
  std::vector<char> message(static_cast<size_t>(size), 'x');
  std::vector<char> buffer(1 << 16);
  uint64_t round_trips = 0;
  for (Conn& c : conns) {
    if (send(c.fd, message.data(), message.size(), MSG_NOSIGNAL) != size) return Fail("send");
    c.pending = size;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = static_cast<uint64_t>(&c - conns.data());
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &event);
  }
  const auto start = Clock::now();
  const auto end = start + std::chrono::milliseconds(absl::GetFlag(FLAGS_duration_ms));
  std::vector<epoll_event> events(1024);
  while (Clock::now() < end) {
    const int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 50);
    for (int e = 0; e < n; ++e) {
      Conn& c = conns[events[e].data.u64];
      const ssize_t r = recv(c.fd, buffer.data(), buffer.size(), 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        return Fail("server closed during pingpong");
      }
      c.pending -= static_cast<int>(r);
      if (c.pending == 0) {
        ++round_trips;
        if (send(c.fd, message.data(), message.size(), MSG_NOSIGNAL) != size) return Fail("send");
        c.pending = size;
      }
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("connections=%d message_bytes=%d round_trips=%llu seconds=%.3f round_trips_per_second=%.0f\n",
              count, size, (unsigned long long)round_trips, seconds, round_trips / seconds);
  for (Conn& c : conns) close(c.fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const rlim_t wanted = static_cast<rlim_t>(absl::GetFlag(FLAGS_connections)) + 64;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = wanted;
    if (limit.rlim_max < wanted) limit.rlim_max = wanted;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  auto target = ringpost::core::ParseSocketAddress(absl::GetFlag(FLAGS_target));
  if (!target.ok()) {
    std::fprintf(stderr, "echo-client: --target: %s\n", std::string(target.status().message()).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_mode) == "pingpong") return RunPingPong(*target);
  return RunStream(*target);
}
