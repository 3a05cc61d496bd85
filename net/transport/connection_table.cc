#include "net/transport/connection_table.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/check.h"
#include "core/log.h"

namespace ringpost::net {

using core::Completion;
using core::OpKind;
using core::OpTag;

namespace {
constexpr core::MonoNanos kAcceptRetryNanos = 100 * core::kNanosPerMilli;

void SetNoDelay(int fd) {
  // SMTP is request/reply: a reply must not wait for Nagle.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
}  // namespace

ConnectionTable::ConnectionTable(core::Shard& shard, Service& service, const ConnectionTableOptions& options)
    : shard_(shard), service_(service), options_(options) {
  RP_CHECK_GT(options_.connections_max, 0u);
  RP_CHECK_GT(options_.loans_per_connection_max, 0u);
  slots_.reserve(options_.connections_max);
  for (OpKind kind : {OpKind::kAccept, OpKind::kRecv, OpKind::kSend, OpKind::kConnect}) {
    shard_.SetSink(kind, this);
  }
  shard_.AddTurnHook([this] { OnTurn(); });
  shard_.AddStopHandler([this](core::MonoNanos deadline) { OnStop(deadline); });
  grace_timer_.Bind(&ConnectionTable::OnGraceDeadline, this);
}

ConnectionTable::~ConnectionTable() {
  destroying_ = true;  // sessions dying below may close others: nothing is deferred any more
  shard_.timers().Cancel(&grace_timer_);
  for (auto& listener : listeners_) {
    shard_.timers().Cancel(&listener->retry_timer);
    if (listener->fd >= 0) close(listener->fd);
  }
  for (auto& c : slots_) {
    shard_.timers().Cancel(&c->timer_);
    c->session_.reset();
    c->out_.clear();
    if (c->fd_ >= 0) close(c->fd_);
  }
}

Connection* ConnectionTable::Resolve(SlotRef ref) {
  Connection& c = *slots_[ref.slot];
  return c.generation_ == ref.generation && c.state_ != Connection::State::kFree ? &c : nullptr;
}

Connection* ConnectionTable::Allocate() {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else if (slots_.size() < options_.connections_max) {
    // Slots are made on first use and reused forever after: idle capacity costs nothing.
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::unique_ptr<Connection>(new Connection()));
    Connection& c = *slots_.back();
    c.table_ = this;
    c.slot_ = slot;
    c.timer_.Bind(&Connection::OnTimerFired, &c);
  } else {
    return nullptr;
  }
  Connection& c = *slots_[slot];
  RP_CHECK(c.state_ == Connection::State::kFree);
  RP_CHECK(!c.OpsInFlight() && c.loans_held_ == 0 && c.out_.empty());
  ++stats_.live;
  stats_.live_peak = std::max(stats_.live_peak, stats_.live);
  shard_.Hold();
  return &c;
}

Connection& ConnectionTable::ConnectionFor(const OpTag& tag) {
  RP_CHECK_LT(tag.slot, slots_.size());
  Connection& c = *slots_[tag.slot];
  // Pairs with Finish(): a slot is freed only once no op is in flight.
  RP_CHECK_MSG(c.generation_ == tag.generation, "completion for a recycled connection slot");
  return c;
}

void ConnectionTable::AddListener(int fd, Service* service) {
  RP_CHECK_GE(fd, 0);
  auto listener = std::make_unique<Listener>();
  listener->fd = fd;
  listener->service = service;
  listener->table = this;
  listener->retry_timer.Bind(&ConnectionTable::OnListenerRetry, listener.get());
  listeners_.push_back(std::move(listener));
  shard_.Hold();  // released when the listener is closed at stop
  ArmAccept(static_cast<uint32_t>(listeners_.size() - 1));
}

void ConnectionTable::ArmAccept(uint32_t index) {
  Listener& listener = *listeners_[index];
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_multishot_accept(sqe, listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, OpTag{index, 0, OpKind::kAccept}.Encode());
  listener.accept_armed = true;
}

void ConnectionTable::Adopt(int fd, bool inbound, Service* service) {
  Service& sessions = service != nullptr ? *service : service_;
  Connection* c = Allocate();
  if (c == nullptr) {
    ++stats_.rejected_over_limit_total;
    sessions.RejectOverLimit(fd);
    close(fd);
    return;
  }
  c->fd_ = fd;
  c->state_ = Connection::State::kOpen;
  c->inbound_ = inbound;
  sockaddr_storage peer{};
  socklen_t length = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) == 0) {
    c->peer_ = core::SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&peer), length);
  }
  SetNoDelay(fd);
  ++stats_.accepted_total;
  c->session_ = sessions.NewSession(*c);
  RP_CHECK(c->session_ != nullptr);
  ArmRecv(*c);
  c->session_->OnOpen(*c);
  if (stopping_ && c->state_ == Connection::State::kOpen) {
    c->session_->OnShutdown(*c, stop_deadline_);
  }
}

Connection* ConnectionTable::Connect(const core::SocketAddress& address, std::unique_ptr<Session> session,
                                     const core::SocketAddress* source, std::string* bind_error) {
  RP_CHECK(session != nullptr);
  if (stopping_) return nullptr;
  const int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  if (source != nullptr) {
    // The port is picked at connect, per destination: one source address can then hold
    // far more than 64k connections (to different destinations). Linux takes this
    // IP-level option on IPv6 sockets too.
    const int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, source->sockaddr_ptr(), source->length()) != 0) {
      const std::string error =
          absl::StrCat("cannot bind source ", source->HostString(), ": ", std::strerror(errno));
      RP_LOG(kWarning) << "outbound connection to " << address.ToString() << ": " << error;
      if (bind_error != nullptr) *bind_error = error;
      close(fd);
      return nullptr;
    }
  }
  Connection* c = Allocate();
  if (c == nullptr) {
    close(fd);
    return nullptr;
  }
  c->fd_ = fd;
  c->state_ = Connection::State::kConnecting;
  c->inbound_ = false;
  c->peer_ = address;
  c->session_ = std::move(session);
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  // peer_ lives in the connection, so the address outlives the operation.
  io_uring_prep_connect(sqe, fd, c->peer_.sockaddr_ptr(), c->peer_.length());
  io_uring_sqe_set_data64(sqe, OpTag{c->slot_, c->generation_, OpKind::kConnect}.Encode());
  c->connect_in_flight_ = true;
  return c;
}

void ConnectionTable::ArmRecv(Connection& c) {
  RP_CHECK(!c.recv_armed_);
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_recv_multishot(sqe, c.fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = shard_.buffers().group_id();
  io_uring_sqe_set_data64(sqe, OpTag{c.slot_, c.generation_, OpKind::kRecv}.Encode());
  c.recv_armed_ = true;
  c.recv_cancel_sent_ = false;
  c.waiting_for_buffers_ = false;
}

void ConnectionTable::ScheduleFlush(Connection& c) {
  if (c.on_flush_list_ || c.send_in_flight_) return;  // OnSend continues with the rest
  c.on_flush_list_ = true;
  flush_list_.push_back({c.slot_, c.generation_});
}

void ConnectionTable::SubmitSend(Connection& c) {
  RP_CHECK(!c.send_in_flight_);
  RP_CHECK(c.state_ == Connection::State::kOpen);
  int iov_count = 0;
  uint32_t chunks = 0;
  for (const Connection::OutChunk& chunk : c.out_) {
    if (iov_count == Connection::kIovMax) break;
    const absl::string_view view = chunk.view();
    RP_CHECK_LT(chunk.offset, view.size());
    c.iov_[iov_count].iov_base = const_cast<char*>(view.data()) + chunk.offset;
    c.iov_[iov_count].iov_len = view.size() - chunk.offset;
    ++iov_count;
    ++chunks;
  }
  RP_CHECK_GT(iov_count, 0);
  std::memset(&c.msg_, 0, sizeof(c.msg_));
  c.msg_.msg_iov = c.iov_;
  c.msg_.msg_iovlen = static_cast<size_t>(iov_count);
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_sendmsg(sqe, c.fd_, &c.msg_, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, OpTag{c.slot_, c.generation_, OpKind::kSend}.Encode());
  c.send_in_flight_ = true;
  c.chunks_in_flight_ = chunks;
}

void ConnectionTable::RequestClose(Connection& c) {
  if (c.state_ == Connection::State::kClosing || c.state_ == Connection::State::kFree) return;
  c.state_ = Connection::State::kClosing;
  shard_.timers().Cancel(&c.timer_);
  if (c.OpsInFlight()) {
    // One cancel for every op on this fd; their CQEs (-ECANCELED or a result) come
    // back through OnCompletion and MaybeFinish frees the slot after the last one.
    io_uring_sqe* sqe = shard_.ring().GetSqe();
    io_uring_prep_cancel_fd(sqe, c.fd_, IORING_ASYNC_CANCEL_ALL);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, OpTag{}.Encode());
  }
  if (!c.on_finish_list_ && !destroying_) {
    // Freed once the stack unwinds (the session may be the caller): at the end of the
    // loop turn, if no op is in flight by then; else after its last completion.
    c.on_finish_list_ = true;
    shard_.RunAfterTurn({&ConnectionTable::FinishAfterTurn, this,
                         uint64_t{c.slot_} << 32 | c.generation_});
  }
}

void ConnectionTable::FinishAfterTurn(void* context, uint64_t slot_and_generation) {
  auto& table = *static_cast<ConnectionTable*>(context);
  Connection* c = table.Resolve(
      {static_cast<uint32_t>(slot_and_generation >> 32), static_cast<uint32_t>(slot_and_generation)});
  if (c == nullptr) return;  // freed already, by its last completion
  c->on_finish_list_ = false;
  table.MaybeFinish(*c);
}

void ConnectionTable::MaybeFinish(Connection& c) {
  if (c.state_ == Connection::State::kClosing && !c.OpsInFlight()) Finish(c);
}

void ConnectionTable::Finish(Connection& c) {
  RP_CHECK(c.state_ == Connection::State::kClosing);
  RP_CHECK(!c.OpsInFlight());
  c.session_.reset();  // drops any loans the session kept
  c.tls_.reset();
  c.out_.clear();  // and the ones queued for sending
  c.spare_bytes_ = std::string();
  RP_CHECK_EQ(c.loans_held_, 0u);
  close(c.fd_);
  c.fd_ = -1;
  c.generation_ = (c.generation_ + 1) & core::kGenerationMask;
  if (c.generation_ == 0) c.generation_ = 1;
  c.state_ = Connection::State::kFree;
  c.close_after_send_ = c.peer_closed_ = c.broken_ = c.waiting_for_buffers_ = false;
  c.on_finish_list_ = c.on_flush_list_ = false;
  c.chunks_in_flight_ = 0;
  c.queued_bytes_ = 0;
  free_slots_.push_back(c.slot_);
  ++stats_.closed_total;
  RP_CHECK_GT(stats_.live, 0u);
  --stats_.live;
  shard_.Release();
}

void ConnectionTable::OnCompletion(const Completion& completion) {
  const OpTag tag = OpTag::Decode(completion.user_data);
  if (tag.kind == OpKind::kAccept) return OnAccept(completion, tag.slot);
  Connection& c = ConnectionFor(tag);
  switch (tag.kind) {
    case OpKind::kRecv:
      OnRecv(c, completion);
      break;
    case OpKind::kSend:
      OnSend(c, completion);
      break;
    case OpKind::kConnect:
      OnConnect(c, completion);
      break;
    default:
      RP_CHECK_MSG(false, "ConnectionTable got a completion of another kind");
  }
  MaybeFinish(c);  // callbacks have returned: freeing the slot is safe here
}

void ConnectionTable::OnAccept(const Completion& completion, uint32_t index) {
  RP_CHECK_LT(index, listeners_.size());
  Listener& listener = *listeners_[index];
  if (!(completion.flags & IORING_CQE_F_MORE)) listener.accept_armed = false;
  if (completion.res >= 0) {
    Adopt(completion.res, /*inbound=*/true, listener.service);
  } else if (completion.res != -ECANCELED) {
    RP_LOG(kWarning) << "accept failed: " << strerror(-completion.res);
    if (!listener.accept_armed && !stopping_) {
      // EMFILE and friends would fail again at once: retry after a pause.
      shard_.timers().Schedule(&listener.retry_timer, shard_.now() + kAcceptRetryNanos);
      return;
    }
  }
  if (!listener.accept_armed) {
    if (stopping_) {
      CloseListenerAfterDrain(listener);
    } else {
      ArmAccept(index);
    }
  }
}

void ConnectionTable::OnListenerRetry(void* context) {
  auto* listener = static_cast<Listener*>(context);
  ConnectionTable& table = *listener->table;
  for (uint32_t i = 0; i < table.listeners_.size(); ++i) {
    if (table.listeners_[i].get() == listener && listener->fd >= 0 && !table.stopping_) {
      table.ArmAccept(i);
    }
  }
}

void ConnectionTable::OnRecv(Connection& c, const Completion& completion) {
  if (!(completion.flags & IORING_CQE_F_MORE)) c.recv_armed_ = false;
  const bool open = c.state_ == Connection::State::kOpen;
  if (completion.res > 0) {
    RP_CHECK(completion.flags & IORING_CQE_F_BUFFER);
    const auto buffer_id = static_cast<uint16_t>(completion.flags >> IORING_CQE_BUFFER_SHIFT);
    core::BufferLoan loan =
        shard_.buffers().Take(buffer_id, static_cast<uint32_t>(completion.res), &c.loans_held_);
    stats_.bytes_received_total += static_cast<uint64_t>(completion.res);
    if (open && c.tls_ != nullptr) {
      c.ReceiveTls(std::move(loan));
    } else if (open) {
      c.session_->OnRecv(c, std::move(loan));
    }
  } else if (completion.res == -ENOBUFS) {
    // Every buffer is on loan: back-pressure. OnTurn re-arms once buffers return.
    ++stats_.enobufs_total;
    c.waiting_for_buffers_ = true;
  } else if (completion.res != -ECANCELED) {
    c.peer_closed_ = true;  // 0 is EOF; anything else is a broken socket
    c.broken_ = completion.res < 0;
    if (open) c.session_->OnPeerClosed(c);
  }
  if (c.state_ != Connection::State::kOpen) return;
  const uint32_t cap = options_.loans_per_connection_max;
  if (c.recv_armed_ && c.loans_held_ >= cap && !c.recv_cancel_sent_) {
    // This connection holds its whole share: stop its recv until loans come back.
    ++stats_.loan_cap_pauses_total;
    io_uring_sqe* sqe = shard_.ring().GetSqe();
    io_uring_prep_cancel64(sqe, OpTag{c.slot_, c.generation_, OpKind::kRecv}.Encode(), 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, OpTag{}.Encode());
    c.recv_cancel_sent_ = true;
  }
  if (!c.recv_armed_ && !c.peer_closed_) {
    if (c.waiting_for_buffers_ || c.loans_held_ >= cap) {
      pause_list_.push_back({c.slot_, c.generation_});
    } else {
      ArmRecv(c);
    }
  }
}

void ConnectionTable::OnSend(Connection& c, const Completion& completion) {
  c.send_in_flight_ = false;
  c.chunks_in_flight_ = 0;
  if (completion.res <= 0) {
    // A failed send (reset, cancelled) ends the connection; 0 bytes cannot happen
    // for a non-empty iovec on a stream socket and is treated the same.
    RequestClose(c);
    return;
  }
  stats_.bytes_sent_total += static_cast<uint64_t>(completion.res);
  size_t sent = static_cast<size_t>(completion.res);
  while (sent > 0) {
    RP_CHECK(!c.out_.empty());
    Connection::OutChunk& front = c.out_.front();
    const size_t remaining = front.view().size() - front.offset;
    if (sent >= remaining) {
      sent -= remaining;
      c.queued_bytes_ -= remaining;
      if (!front.loan.valid() && front.bytes.capacity() <= Connection::kSpareChunkBytesMax &&
          front.bytes.capacity() > c.spare_bytes_.capacity()) {
        front.bytes.clear();
        c.spare_bytes_.swap(front.bytes);
      }
      c.out_.pop_front();  // a loaned buffer goes back to the ring here
    } else {
      front.offset += static_cast<uint32_t>(sent);
      c.queued_bytes_ -= sent;
      sent = 0;
    }
  }
  if (c.state_ != Connection::State::kOpen) return;
  if (!c.out_.empty()) {
    SubmitSend(c);  // a short send: the rest goes now
  } else if (c.close_after_send_) {
    RequestClose(c);
  } else {
    c.session_->OnSendDrained(c);
  }
}

void ConnectionTable::OnConnect(Connection& c, const Completion& completion) {
  c.connect_in_flight_ = false;
  if (c.state_ != Connection::State::kConnecting) return;  // closed meanwhile
  if (completion.res < 0) {
    c.session_->OnConnectFailed(c, absl::ErrnoToStatus(-completion.res, "connect"));
    RequestClose(c);
    return;
  }
  c.state_ = Connection::State::kOpen;
  SetNoDelay(c.fd_);
  ++stats_.connected_total;
  ArmRecv(c);
  c.session_->OnOpen(c);
  if (c.state_ == Connection::State::kOpen && !c.out_.empty()) ScheduleFlush(c);
  if (stopping_ && c.state_ == Connection::State::kOpen) c.session_->OnShutdown(c, stop_deadline_);
}

void ConnectionTable::OnTurn() {
  if (!flush_list_.empty()) {
    scratch_.swap(flush_list_);
    for (SlotRef ref : scratch_) {
      Connection* c = Resolve(ref);
      if (c == nullptr) continue;
      c->on_flush_list_ = false;
      if (c->state_ == Connection::State::kOpen && !c->send_in_flight_ && !c->out_.empty()) {
        SubmitSend(*c);
      }
    }
    scratch_.clear();
  }
  if (!pause_list_.empty()) {
    const uint32_t cap = options_.loans_per_connection_max;
    const uint32_t free_enough = std::max<uint32_t>(1, shard_.buffers().count() / 8);
    scratch_.swap(pause_list_);
    for (SlotRef ref : scratch_) {
      Connection* c = Resolve(ref);
      if (c == nullptr || c->state_ != Connection::State::kOpen || c->recv_armed_ || c->peer_closed_) {
        continue;
      }
      const bool buffers_ok = !c->waiting_for_buffers_ || shard_.buffers().free_count() >= free_enough;
      // Resume below half the cap, so a connection hovering at the cap does not
      // cancel and re-arm on every buffer.
      const bool share_ok = c->loans_held_ <= cap / 2;
      if (buffers_ok && share_ok) {
        ArmRecv(*c);
      } else {
        pause_list_.push_back(ref);
      }
    }
    scratch_.clear();
  }
}

void ConnectionTable::OnStop(core::MonoNanos deadline) {
  stopping_ = true;
  stop_deadline_ = deadline;
  for (uint32_t i = 0; i < listeners_.size(); ++i) {
    Listener& listener = *listeners_[i];
    if (listener.accept_armed) {
      // The final accept CQE (-ECANCELED) drains the backlog and closes the socket.
      io_uring_sqe* sqe = shard_.ring().GetSqe();
      io_uring_prep_cancel64(sqe, OpTag{i, 0, OpKind::kAccept}.Encode(), 0);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe_set_data64(sqe, OpTag{}.Encode());
    } else if (listener.fd >= 0) {
      shard_.timers().Cancel(&listener.retry_timer);
      CloseListenerAfterDrain(listener);
    }
  }
  for (auto& slot : slots_) {
    Connection& c = *slot;
    if (c.state_ == Connection::State::kOpen) c.session_->OnShutdown(c, deadline);
  }
  shard_.timers().Schedule(&grace_timer_, deadline);
}

void ConnectionTable::CloseListenerAfterDrain(Listener& listener) {
  if (listener.fd < 0) return;
  // Connections already in the backlog completed their handshake: closing the socket
  // would reset them. Take them and let the service shut them down politely.
  const int flags = fcntl(listener.fd, F_GETFL);
  fcntl(listener.fd, F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    const int fd = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) break;
    Adopt(fd, /*inbound=*/true, listener.service);
  }
  close(listener.fd);
  listener.fd = -1;
  shard_.Release();
}

void ConnectionTable::OnGraceDeadline(void* context) {
  auto* table = static_cast<ConnectionTable*>(context);
  for (auto& slot : table->slots_) table->RequestClose(*slot);
}

}  // namespace ringpost::net
