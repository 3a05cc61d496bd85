#include "net/redis/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/log.h"
#include "core/op_tag.h"

namespace ringpost::net {

// A command's callback, with the command's number (its deadline's key).
struct RedisClient::Pending {
  RedisClient* client;
  uint64_t number;
  RedisDone done;
};

namespace {

RedisReply Convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(Convert(*r.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

core::MonoNanos Nanos(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

}  // namespace

RedisClient::RedisClient(core::Shard& shard, RedisOptions options)
    : shard_(shard),
      options_(std::move(options)),
      deadline_timer_(&RedisClient::OnDeadline, this),
      reconnect_timer_(&RedisClient::OnReconnect, this) {
  shard_.SetSink(core::OpKind::kRedisPoll, this);
  shard_.AddTurnHook([this] {
    std::vector<std::function<void()>> ready;
    ready.swap(later_);
    for (auto& call : ready) call();
  });
  shard_.AddStopHandler([this](core::MonoNanos) { stopping_ = true; });
}

RedisClient::~RedisClient() {
  stopping_ = true;
  shard_.timers().Cancel(&deadline_timer_);
  shard_.timers().Cancel(&reconnect_timer_);
  if (context_ != nullptr) {
    armed_ = false;            // the ring's teardown cancels a poll in flight
    redisAsyncFree(context_);  // pending callbacks see a null reply: told nothing now
  }
}

void RedisClient::Start() { Connect(); }

void RedisClient::Connect() {
  if (stopping_ || context_ != nullptr) return;
  const std::string host = options_.address.HostString();
  redisAsyncContext* context = redisAsyncConnect(host.c_str(), options_.address.port());
  if (context == nullptr || context->err != 0) {
    RP_LOG(kWarning) << "redis " << options_.address.ToString()
                     << ": cannot connect: " << (context != nullptr ? context->errstr : "out of memory");
    if (context != nullptr) redisAsyncFree(context);
    shard_.timers().Schedule(&reconnect_timer_, shard_.now() + Nanos(options_.reconnect_interval));
    return;
  }
  context_ = context;
  context_->data = this;
  fd_ = context_->c.fd;
  context_->ev.data = this;
  context_->ev.addRead = &RedisClient::AddRead;
  context_->ev.delRead = &RedisClient::DelRead;
  context_->ev.addWrite = &RedisClient::AddWrite;
  context_->ev.delWrite = &RedisClient::DelWrite;
  context_->ev.cleanup = &RedisClient::Cleanup;
  redisAsyncSetConnectCallback(context_, &RedisClient::OnConnected);
  redisAsyncSetDisconnectCallback(context_, &RedisClient::OnDisconnected);
  // The first command on the connection: nothing else is answered before it.
  std::vector<std::string> probe = options_.password.empty()
                                       ? std::vector<std::string>{"PING"}
                                       : std::vector<std::string>{"AUTH", options_.password};
  Command(probe, [this](const absl::StatusOr<RedisReply>& reply) {
    if (reply.ok()) {
      SetUp(true);
    } else if (context_ != nullptr) {
      Drop(std::string(absl::StripPrefix(reply.status().message(), "redis: ")));
    }
  });
  // The connect finishes when the socket is writable.
  AddWrite(this);
}

void RedisClient::Command(const std::vector<std::string>& args, RedisDone done) {
  if (context_ == nullptr || dropping_) {
    later_.push_back([done = std::move(done)] { done(absl::UnavailableError("redis: not connected")); });
    shard_.RequestTurn();
    return;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  const uint64_t number = next_command_++;
  auto* pending = new Pending{this, number, std::move(done)};
  if (redisAsyncCommandArgv(context_, &RedisClient::OnReply, pending, static_cast<int>(argv.size()),
                            argv.data(), lengths.data()) != REDIS_OK) {
    RedisDone failed = std::move(pending->done);
    delete pending;
    later_.push_back(
        [failed = std::move(failed)] { failed(absl::UnavailableError("redis: not connected")); });
    shard_.RequestTurn();
    return;
  }
  ++commands_sent_;
  deadlines_.emplace_back(number, shard_.now() + Nanos(options_.timeout));
  if (deadlines_.size() == 1) ScheduleDeadline();
}

void RedisClient::OnReply(redisAsyncContext* context, void* reply, void* data) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(data));
  RedisClient& self = *pending->client;
  (void)context;
  // Answered in order: this and everything before it are no longer waited for.
  while (!self.deadlines_.empty() && self.deadlines_.front().first <= pending->number)
    self.deadlines_.pop_front();
  self.ScheduleDeadline();
  if (self.stopping_ && reply == nullptr) return;  // shutting down: nobody waits any more
  if (reply == nullptr) {                          // the connection went before the answer came
    pending->done(absl::UnavailableError("redis: connection lost"));
    return;
  }
  const auto& r = *static_cast<const redisReply*>(reply);
  if (r.type == REDIS_REPLY_ERROR) {
    pending->done(absl::FailedPreconditionError(absl::StrCat("redis: ", std::string(r.str, r.len))));
    return;
  }
  pending->done(Convert(r));
}

void RedisClient::ScheduleDeadline() {
  if (deadlines_.empty()) {
    shard_.timers().Cancel(&deadline_timer_);
  } else {
    shard_.timers().Schedule(&deadline_timer_, deadlines_.front().second);
  }
}

void RedisClient::OnDeadline(void* data) {
  RedisClient& self = *static_cast<RedisClient*>(data);
  if (self.deadlines_.empty() || self.deadlines_.front().second > self.shard_.now()) {
    self.ScheduleDeadline();
    return;
  }
  self.Drop(absl::StrCat("no answer within ", absl::FormatDuration(self.options_.timeout)));
}

void RedisClient::Drop(const std::string& why) {
  if (context_ == nullptr) return;
  RP_LOG(kWarning) << "redis " << options_.address.ToString() << ": " << why << "; reconnecting every "
                   << absl::FormatDuration(options_.reconnect_interval);
  // Every callback in flight hears a null reply (Unavailable), then Cleanup runs;
  // meanwhile a command they send fails at once.
  dropping_ = true;
  redisAsyncFree(context_);
}

void RedisClient::OnConnected(const redisAsyncContext* context, int status) {
  RedisClient& self = *static_cast<RedisClient*>(context->data);
  if (status != REDIS_OK) {
    // hiredis frees the context after this returns (Cleanup, then OnDisconnected is
    // not called): the reconnect is scheduled there.
    RP_LOG(kWarning) << "redis " << self.options_.address.ToString() << ": " << context->errstr;
  }
}

void RedisClient::OnDisconnected(const redisAsyncContext* context, int status) {
  RedisClient& self = *static_cast<RedisClient*>(context->data);
  if (status != REDIS_OK && !self.stopping_) {
    RP_LOG(kWarning) << "redis " << self.options_.address.ToString()
                     << ": connection lost: " << context->errstr;
  }
}

void RedisClient::Cleanup(void* data) {
  RedisClient& self = *static_cast<RedisClient*>(data);
  self.want_read_ = self.want_write_ = false;
  self.Unwatch();
  self.context_ = nullptr;
  self.dropping_ = false;
  self.fd_ = -1;
  self.deadlines_.clear();
  self.ScheduleDeadline();
  self.SetUp(false);
  if (!self.stopping_) {
    self.shard_.timers().Schedule(&self.reconnect_timer_,
                                  self.shard_.now() + Nanos(self.options_.reconnect_interval));
  }
}

void RedisClient::OnReconnect(void* data) { static_cast<RedisClient*>(data)->Connect(); }

void RedisClient::SetUp(bool up) {
  if (up_ == up || stopping_) return;
  up_ = up;
  if (up) {
    RP_LOG(kInfo) << "redis " << options_.address.ToString() << ": connected";
  }
  if (on_state_) on_state_(up);
}

// ---- The socket, watched on the ring ---------------------------------------------------

void RedisClient::AddRead(void* data) {
  auto& self = *static_cast<RedisClient*>(data);
  self.want_read_ = true;
  self.Watch();
}

void RedisClient::DelRead(void* data) {
  auto& self = *static_cast<RedisClient*>(data);
  self.want_read_ = false;
  self.Watch();
}

void RedisClient::AddWrite(void* data) {
  auto& self = *static_cast<RedisClient*>(data);
  self.want_write_ = true;
  self.Watch();
}

void RedisClient::DelWrite(void* data) {
  auto& self = *static_cast<RedisClient*>(data);
  self.want_write_ = false;
  self.Watch();
}

void RedisClient::Watch() {
  const unsigned mask = (want_read_ ? POLLIN : 0) | (want_write_ ? POLLOUT : 0);
  if (armed_ && armed_mask_ == mask) return;
  // The interest changed: the poll in flight watches the old events, so it goes.
  Unwatch();
  if (mask == 0 || fd_ < 0 || stopping_) return;
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_poll_add(sqe, fd_, mask);
  generation_ = (generation_ + 1) & core::kGenerationMask;
  io_uring_sqe_set_data64(sqe, core::OpTag{0, generation_, core::OpKind::kRedisPoll}.Encode());
  armed_ = true;
  armed_mask_ = mask;
}

void RedisClient::Unwatch() {
  if (!armed_) return;
  armed_ = false;
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_poll_remove(sqe, core::OpTag{0, generation_, core::OpKind::kRedisPoll}.Encode());
  io_uring_sqe_set_data64(sqe, 0);
}

void RedisClient::OnCompletion(const core::Completion& completion) {
  const core::OpTag tag = core::OpTag::Decode(completion.user_data);
  if (!armed_ || tag.generation != generation_) return;  // a removed poll's
  armed_ = false;
  if (completion.res < 0 || context_ == nullptr) {
    Watch();
    return;
  }
  const bool readable = (completion.res & (POLLIN | POLLERR | POLLHUP)) != 0;
  const bool writable = (completion.res & (POLLOUT | POLLERR)) != 0;
  // Either may free the context (Cleanup clears context_).
  if (writable && context_ != nullptr) redisAsyncHandleWrite(context_);
  if (readable && context_ != nullptr) redisAsyncHandleRead(context_);
  if (context_ != nullptr) Watch();
}

absl::StatusOr<core::SocketAddress> ParseRedisAddress(const std::string& text) {
  absl::StatusOr<core::SocketAddress> address = core::ParseSocketAddress(text);
  if (!address.ok() || address->port() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--redis: '", text, "' is not ADDRESS:PORT"));
  }
  return address;
}

}  // namespace ringpost::net
