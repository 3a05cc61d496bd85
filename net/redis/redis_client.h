// One connection to Redis per shard: hiredis's asynchronous interface driven by the
// shard's io_uring, as dns/resolver.h drives c-ares. Its socket is watched with
// IORING_OP_POLL_ADD (one-shot, re-armed while hiredis wants it); no thread, no
// blocking call. hiredis (0.14) keeps no time: each command's deadline is on the
// shard's timer wheel, and a command still unanswered then drops the connection (every
// command in flight fails with Unavailable; callers fall back), after which it
// reconnects every `reconnect_interval` until Redis answers again.
//
// Owned by one shard; not thread-safe. A command's callback runs exactly once, on this
// shard, never inside Command() itself (once the shard stops, not at all).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/shard.h"
#include "core/socket_address.h"
#include "core/timer_wheel.h"

struct redisAsyncContext;

namespace ringpost::net {

struct RedisReply {
  enum class Type { kString, kInteger, kArray, kNil, kStatus };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string text;  // a string or status
  std::vector<RedisReply> elements;
};

struct RedisOptions {
  core::SocketAddress address;  // --redis
  std::string password;         // --redis_password_file's first line; empty: no AUTH
  absl::Duration timeout = absl::Milliseconds(500);
  absl::Duration reconnect_interval = absl::Seconds(1);
};

// An error reply (-ERR ...) is a FailedPrecondition status naming it; no connection
// or no answer in time is Unavailable.
using RedisDone = std::function<void(const absl::StatusOr<RedisReply>& reply)>;

class RedisClient final : public core::CompletionSink {
 public:
  RedisClient(core::Shard& shard, RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects (and reconnects whenever the connection is lost).
  void Start();
  // Sends one command (its arguments, binary-safe). Fails at once (on a later turn)
  // while there is no connection.
  void Command(const std::vector<std::string>& args, RedisDone done);
  // The connection answered its last command (or AUTH): commands are worth sending.
  bool up() const { return up_; }
  // Told each time up() changes.
  void set_on_state(std::function<void(bool up)> on_state) { on_state_ = std::move(on_state); }

  uint64_t commands_sent() const { return commands_sent_; }

  void OnCompletion(const core::Completion& completion) override;

 private:
  struct Pending;
  static void AddRead(void* data);
  static void DelRead(void* data);
  static void AddWrite(void* data);
  static void DelWrite(void* data);
  static void Cleanup(void* data);
  static void OnConnected(const redisAsyncContext* context, int status);
  static void OnDisconnected(const redisAsyncContext* context, int status);
  static void OnReply(redisAsyncContext* context, void* reply, void* data);
  static void OnDeadline(void* data);
  static void OnReconnect(void* data);
  void Connect();
  void Drop(const std::string& why);
  void SetUp(bool up);
  void Watch();
  void Unwatch();
  void ScheduleDeadline();
  void Later(std::function<void()> call);

  core::Shard& shard_;
  const RedisOptions options_;
  redisAsyncContext* context_ = nullptr;
  int fd_ = -1;
  bool want_read_ = false, want_write_ = false;
  bool armed_ = false;
  unsigned armed_mask_ = 0;
  uint32_t generation_ = 0;
  bool up_ = false;
  bool dropping_ = false;  // inside our redisAsyncFree
  bool stopping_ = false;
  std::function<void(bool)> on_state_;
  // Commands in flight, oldest first (Redis answers in order): their deadlines.
  std::deque<std::pair<uint64_t, core::MonoNanos>> deadlines_;
  uint64_t next_command_ = 1;
  core::TimerNode deadline_timer_;
  core::TimerNode reconnect_timer_;
  std::vector<std::function<void()>> later_;  // failures found inside Command()
  uint64_t commands_sent_ = 0;
};

// Parses --redis: "HOST:PORT" with an IPv4 or [IPv6] address.
absl::StatusOr<core::SocketAddress> ParseRedisAddress(const std::string& text);

}  // namespace ringpost::net
