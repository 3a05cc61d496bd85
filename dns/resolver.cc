#include "dns/resolver.h"

#include <poll.h>
#include <sys/time.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/check.h"
#include "core/log.h"

namespace ringpost::dns {

struct Resolver::Pending {
  std::shared_ptr<Resolver*> alive;
  QueryDone done;
};

absl::Status InitDnsLibrary() {
  const int rc = ares_library_init(ARES_LIB_INIT_ALL);
  if (rc != ARES_SUCCESS) return absl::InternalError(absl::StrCat("c-ares init: ", ares_strerror(rc)));
  return absl::OkStatus();
}

Resolver::Resolver(core::Shard& shard, const ResolverOptions& options)
    : shard_(shard),
      options_(options),
      timer_(&Resolver::OnTimer, this),
      alive_(std::make_shared<Resolver*>(this)) {
  shard_.SetSink(core::OpKind::kDnsPoll, this);
  shard_.AddTurnHook([this] {
    // Answers that c-ares gave inside Query() (a query refused at once) run here, so a
    // caller never hears back from inside its own call.
    std::vector<std::function<void()>> ready;
    ready.swap(deferred_);
    for (auto& call : ready) call();
  });
}

Resolver::~Resolver() {
  *alive_ = nullptr;
  destroying_ = true;  // after the shard's thread: ares_destroy's socket callbacks touch no ring
  shard_.timers().Cancel(&timer_);
  if (channel_ != nullptr) ares_destroy(channel_);  // calls back with ARES_EDESTRUCTION: ignored
}

absl::Status Resolver::Start() {
  ares_options opts{};
  opts.sock_state_cb = &Resolver::OnSocketState;
  opts.sock_state_cb_data = this;
  opts.timeout = options_.timeout_ms;
  opts.tries = options_.tries;
  // Names are absolute: no search list, no HOSTALIASES.
  // EDNS0 with a 1232-byte payload (the DNS flag day 2020 size): big MX sets fit in one
  // UDP answer; a truncated one is retried over TCP by c-ares.
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
  opts.ednspsz = 1232;
  const int mask =
      ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ;
  int rc = ares_init_options(&channel_, &opts, mask);
  if (rc != ARES_SUCCESS) return absl::InternalError(absl::StrCat("c-ares: ", ares_strerror(rc)));
  std::vector<std::string> servers;
  for (const core::SocketAddress& server : options_.servers) servers.push_back(server.ToString());
  if (!servers.empty()) {
    rc = ares_set_servers_ports_csv(channel_, absl::StrJoin(servers, ",").c_str());
    if (rc != ARES_SUCCESS)
      return absl::InvalidArgumentError(absl::StrCat("DNS servers: ", ares_strerror(rc)));
  }
  return absl::OkStatus();
}

void Resolver::Query(const std::string& name, RecordType type, QueryDone done) {
  RP_CHECK(channel_ != nullptr);
  ++queries_sent_;
  in_query_ = true;
  ares_query(channel_, name.c_str(), /*C_IN=*/1, static_cast<int>(type), &Resolver::OnAnswer,
             new Pending{alive_, std::move(done)});
  in_query_ = false;
  ScheduleTimer();
}

void Resolver::OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen) {
  (void)timeouts;
  std::unique_ptr<Pending> pending(static_cast<Pending*>(arg));
  if (*pending->alive == nullptr) return;  // the resolver is being destroyed
  Resolver& self = **pending->alive;
  absl::Status result = absl::OkStatus();
  DnsAnswer answer;
  // An answer (any RCODE, NXDOMAIN included) comes with its bytes; only a failure to
  // get one comes without.
  if (abuf != nullptr && alen > 0) {
    auto parsed =
        ParseDnsAnswer(absl::string_view(reinterpret_cast<const char*>(abuf), static_cast<size_t>(alen)));
    if (parsed.ok()) {
      answer = std::move(*parsed);
    } else {
      result = absl::UnavailableError(std::string(parsed.status().message()));
    }
  } else {
    result = absl::UnavailableError(absl::StrCat("DNS: ", ares_strerror(status)));
  }
  auto call = [done = std::move(pending->done), result, answer = std::move(answer)] { done(result, answer); };
  if (self.in_query_) {
    self.deferred_.push_back(std::move(call));
    self.shard_.RequestTurn();
  } else {
    call();
  }
}

void Resolver::OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
  Resolver& self = *static_cast<Resolver*>(data);
  if (readable == 0 && writable == 0) {
    // c-ares closes the socket next: a poll still in flight is cancelled, and its
    // completion (or a late readiness) finds no socket under that generation.
    auto it = self.sockets_.find(fd);
    if (it == self.sockets_.end()) return;
    self.Disarm(fd, it->second);
    self.sockets_.erase(it);
    return;
  }
  Socket& socket = self.sockets_[fd];
  socket.want_read = readable != 0;
  socket.want_write = writable != 0;
  if (socket.armed && socket.armed_mask != self.Mask(socket)) {
    // The interest changed (a TCP socket that now has a query to write): the poll in
    // flight watches the old events, so it goes and a new one comes.
    self.Disarm(fd, socket);
  }
  if (!socket.armed) self.Arm(fd, socket);
}

unsigned Resolver::Mask(const Socket& socket) const {
  return (socket.want_read ? POLLIN : 0) | (socket.want_write ? POLLOUT : 0);
}

void Resolver::Arm(int fd, Socket& socket) {
  if (destroying_) return;
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  socket.armed_mask = Mask(socket);
  io_uring_prep_poll_add(sqe, fd, socket.armed_mask);
  socket.generation = next_generation_++ & core::kGenerationMask;
  io_uring_sqe_set_data64(
      sqe, core::OpTag{static_cast<uint32_t>(fd), socket.generation, core::OpKind::kDnsPoll}.Encode());
  socket.armed = true;
}

void Resolver::Disarm(int fd, Socket& socket) {
  if (!socket.armed) return;
  socket.armed = false;
  if (destroying_) return;  // the ring's teardown cancels it; no SQE from another thread
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_poll_remove(
      sqe, core::OpTag{static_cast<uint32_t>(fd), socket.generation, core::OpKind::kDnsPoll}.Encode());
  io_uring_sqe_set_data64(sqe, 0);
}

void Resolver::OnCompletion(const core::Completion& completion) {
  const core::OpTag tag = core::OpTag::Decode(completion.user_data);
  const int fd = static_cast<int>(tag.slot);
  auto it = sockets_.find(fd);
  if (it == sockets_.end() || it->second.generation != tag.generation) return;  // a closed socket's
  it->second.armed = false;
  if (completion.res >= 0) {
    const bool readable = (completion.res & (POLLIN | POLLERR | POLLHUP)) != 0;
    const bool writable = (completion.res & (POLLOUT | POLLERR)) != 0;
    Process(readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
  }
  // Still wanted (c-ares may have closed or replaced it meanwhile): watch again.
  it = sockets_.find(fd);
  if (it != sockets_.end() && !it->second.armed && (it->second.want_read || it->second.want_write)) {
    Arm(fd, it->second);
  }
  ScheduleTimer();
}

void Resolver::Process(int read_fd, int write_fd) { ares_process_fd(channel_, read_fd, write_fd); }

void Resolver::OnTimer(void* context) {
  Resolver& self = *static_cast<Resolver*>(context);
  self.Process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // c-ares retries or fails what timed out
  self.ScheduleTimer();
}

void Resolver::ScheduleTimer() {
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    shard_.timers().Cancel(&timer_);
    return;
  }
  const core::MonoNanos wait = static_cast<core::MonoNanos>(tv.tv_sec) * core::kNanosPerSecond +
                               static_cast<core::MonoNanos>(tv.tv_usec) * 1000;
  // ares_timeout measured from the clock now, not from the turn's start.
  shard_.timers().Schedule(&timer_, core::MonotonicNowNanos() + wait);
}

}  // namespace ringpost::dns
