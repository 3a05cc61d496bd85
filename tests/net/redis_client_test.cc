// The Redis client against a real redis-server on loopback, on a real shard's ring:
// commands and binary-safe values, AUTH, the shared-rate scripts (a batch granted, a
// wait when none conforms, tokens given back), the lease scripts (granted up to the
// limit, refused past it, freed on release, renewed), error replies, and a server that
// dies and comes back (commands fail at once while it is away; the client reconnects).
#include "net/redis/redis_client.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/runtime.h"
#include "gtest/gtest.h"
#include "net/redis/shared_lease_store.h"
#include "net/redis/shared_rate_store.h"
#include "tests/support/subprocess.h"

namespace ringpost::net {
namespace {

using namespace std::chrono_literals;

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// One redis-server of the test's own: no persistence, loopback only.
std::unique_ptr<testing::Subprocess> StartRedis(int port, const std::string& password = "") {
  std::vector<std::string> argv = {
      "/usr/bin/redis-server", "--port", absl::StrCat(port), "--bind", "127.0.0.1", "--save", "",
      "--appendonly",          "no",     "--logfile",        ""};
  if (!password.empty()) {
    argv.push_back("--requirepass");
    argv.push_back(password);
  }
  auto server = std::make_unique<testing::Subprocess>(argv, /*merge_stderr=*/true);
  EXPECT_TRUE(server->WaitForLine("Ready to accept connections", 10s).has_value()) << server->transcript();
  return server;
}

RedisOptions OptionsFor(int port, const std::string& password = "") {
  RedisOptions options;
  options.address = *core::ParseSocketAddress(absl::StrCat("127.0.0.1:", port));
  options.password = password;
  options.reconnect_interval = absl::Milliseconds(200);
  return options;
}

// Runs `body` on a one-shard runtime; it calls `done` when finished. A guard stops the
// shard after 20 s (the test then fails on what it did not see).
void OnShard(const std::function<void(core::Shard&, std::function<void()> done)>& body) {
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  const absl::Status run = runtime.Run([&](core::Shard& shard) {
    auto* guard = &shard.Make<core::TimerNode>(
        [](void* context) { static_cast<core::Shard*>(context)->runtime().RequestStop(); }, &shard);
    shard.timers().Schedule(guard, shard.now() + 20 * core::kNanosPerSecond);
    body(shard, [&shard, guard] {
      shard.timers().Cancel(guard);
      shard.runtime().RequestStop();
    });
    return absl::OkStatus();
  });
  ASSERT_TRUE(run.ok()) << run;
}

TEST(RedisClientTest, CommandsScriptsAndErrorsWithAuth) {
  const int port = FreePort();
  auto server = StartRedis(port, "s3cret");
  std::vector<std::string> seen;
  OnShard([&](core::Shard& shard, std::function<void()> done) {
    auto& redis = shard.Make<RedisClient>(shard, OptionsFor(port, "s3cret"));
    redis.set_on_state([&, done](bool up) {
      seen.push_back(up ? "up" : "down");
      if (!up) return;
      const std::string value("a\0b\r\nc", 6);  // binary-safe
      redis.Command({"SET", "k", value}, [&](const absl::StatusOr<RedisReply>& reply) {
        seen.push_back(reply.ok() ? reply->text : std::string(reply.status().message()));
      });
      redis.Command({"GET", "k"}, [&, value](const absl::StatusOr<RedisReply>& reply) {
        seen.push_back(reply.ok() && reply->text == value ? "same value" : "other value");
      });
      // One token an hour with ten hours of burst: 11 conform now, then none for an
      // hour; 11 given back are there to take again.
      const absl::Duration hour = absl::Hours(1);
      TakeSharedTokens(redis, "t", hour, 10 * hour, 50, [&](const absl::StatusOr<TokenGrant>& grant) {
        seen.push_back(grant.ok() ? absl::StrCat("granted ", grant->granted) : "failed");
      });
      TakeSharedTokens(redis, "t", hour, 10 * hour, 5, [&](const absl::StatusOr<TokenGrant>& grant) {
        seen.push_back(grant.ok() ? absl::StrCat("granted ", grant->granted, " wait over 59m ",
                                                 grant->wait > absl::Minutes(59) ? "true" : "false")
                                  : "failed");
      });
      ReturnSharedTokens(redis, "t", hour, 11);
      TakeSharedTokens(redis, "t", hour, 10 * hour, 50, [&](const absl::StatusOr<TokenGrant>& grant) {
        seen.push_back(grant.ok() ? absl::StrCat("granted ", grant->granted) : "failed");
      });
      redis.Command({"NOSUCHCOMMAND"}, [&, done](const absl::StatusOr<RedisReply>& reply) {
        seen.push_back(reply.ok() ? "ok" : absl::StrCat(absl::StatusCodeToString(reply.status().code())));
        done();
      });
    });
    redis.Start();
  });
  EXPECT_EQ(seen,
            (std::vector<std::string>{"up", "OK", "same value", "granted 11", "granted 0 wait over 59m true",
                                      "granted 11", "FAILED_PRECONDITION"}));
}

TEST(RedisClientTest, LeasesAreGrantedUpToTheLimitAndFreedOnRelease) {
  const int port = FreePort();
  auto server = StartRedis(port);
  std::vector<std::string> seen;
  OnShard([&](core::Shard& shard, std::function<void()> done) {
    auto& redis = shard.Make<RedisClient>(shard, OptionsFor(port));
    redis.set_on_state([&, done](bool up) {
      if (!up) return;
      auto note = [&](const std::string& id) {
        return [&, id](const absl::StatusOr<LeaseAnswer>& answer) {
          seen.push_back(!answer.ok()      ? id + " failed"
                         : answer->granted ? id + " granted"
                                           : absl::StrCat(id, " refused, wait up to the ttl ",
                                                          answer->wait > absl::ZeroDuration() &&
                                                                  answer->wait <= absl::Seconds(15)
                                                              ? "yes"
                                                              : "no"));
        };
      };
      const absl::Duration ttl = absl::Seconds(15);
      TakeSharedLease(redis, "c", 2, ttl, "a", note("a"));
      TakeSharedLease(redis, "c", 2, ttl, "b", note("b"));
      TakeSharedLease(redis, "c", 2, ttl, "c", note("c"));
      ReleaseSharedLeases(redis, "c", {"a"});
      TakeSharedLease(redis, "c", 2, ttl, "c", note("c"));
      RenewSharedLeases(redis, "c", {"b", "c"}, ttl);
      redis.Command({"ZRANGE", "c", "0", "-1"}, [&, done](const absl::StatusOr<RedisReply>& reply) {
        std::string held = "held:";
        if (reply.ok()) {
          for (const RedisReply& e : reply->elements) held += " " + e.text;
        }
        seen.push_back(held);
        done();
      });
    });
    redis.Start();
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a granted", "b granted", "c refused, wait up to the ttl yes",
                                            "c granted", "held: b c"}));
}

TEST(RedisClientTest, AWrongPasswordNeverComesUp) {
  const int port = FreePort();
  auto server = StartRedis(port, "right");
  bool came_up = false;
  std::string failure;
  OnShard([&](core::Shard& shard, std::function<void()> done) {
    auto& redis = shard.Make<RedisClient>(shard, OptionsFor(port, "wrong"));
    redis.set_on_state([&](bool up) { came_up |= up; });
    redis.Start();
    // A few reconnects later: still refused, and commands fail at once.
    auto* later = &shard.Make<std::function<void()>>([&, done] {
      redis.Command({"PING"}, [&, done](const absl::StatusOr<RedisReply>& reply) {
        failure = reply.ok() ? "answered" : std::string(absl::StatusCodeToString(reply.status().code()));
        done();
      });
    });
    auto* timer =
        &shard.Make<core::TimerNode>([](void* f) { (*static_cast<std::function<void()>*>(f))(); }, later);
    shard.timers().Schedule(timer, shard.now() + core::kNanosPerSecond);
  });
  EXPECT_FALSE(came_up);
  EXPECT_EQ(failure, "UNAVAILABLE");
}

TEST(RedisClientTest, AServerThatDiesFailsCommandsAndIsReconnectedWhenBack) {
  const int port = FreePort();
  auto server = StartRedis(port);
  std::vector<std::string> seen;
  OnShard([&](core::Shard& shard, std::function<void()> done) {
    auto& redis = shard.Make<RedisClient>(shard, OptionsFor(port));
    redis.set_on_state([&, done](bool up) {
      seen.push_back(up ? "up" : "down");
      if (up && seen.size() == 1) {
        server->Signal(SIGKILL);
        server->Wait(5s);
        redis.Command({"PING"}, [&](const absl::StatusOr<RedisReply>& reply) {
          seen.push_back(reply.ok() ? "answered" : "failed");
          server = StartRedis(port);  // back on the same port
        });
      } else if (up) {
        redis.Command({"PING"}, [&, done](const absl::StatusOr<RedisReply>& reply) {
          seen.push_back(reply.ok() ? reply->text : "failed");
          done();
        });
      }
    });
    redis.Start();
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"up", "failed", "down", "up", "PONG"}));
}

}  // namespace
}  // namespace ringpost::net
