// One DNS resolver per shard: c-ares driven by the shard's io_uring (DESIGN.md). No
// blocking call and no thread: c-ares' sockets are watched with
// IORING_OP_POLL_ADD (one-shot, re-armed while c-ares wants them), its timeouts run on
// the shard's timer wheel, and answers come back as raw bytes that dns_message.h
// parses (c-ares' own MX parser has no TTLs).
//
// Owned by one shard; not thread-safe. Timeouts and tries are explicit (c-ares defaults
// to 5 s x 4 tries): ResolverOptions. A query's callback runs exactly once, on this
// shard, never inside Query() itself.
#pragma once

#include <ares.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/shard.h"
#include "core/socket_address.h"
#include "core/timer_wheel.h"
#include "dns/dns_message.h"

namespace ringpost::dns {

struct ResolverOptions {
  std::vector<core::SocketAddress> servers;  // --dns_servers or resolv.conf
  int timeout_ms = 2000;                     // per try, per server
  int tries = 2;
};

// The outcome of one query: `status` is OK when a server answered (any RCODE; the
// answer says which), else why none did (Unavailable: timeout, refused, no server).
using QueryDone = std::function<void(const absl::Status& status, const DnsAnswer& answer)>;

class Resolver final : public core::CompletionSink {
 public:
  Resolver(core::Shard& shard, const ResolverOptions& options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  absl::Status Start();
  void Query(const std::string& name, RecordType type, QueryDone done);

  void OnCompletion(const core::Completion& completion) override;
  uint64_t queries_sent() const { return queries_sent_; }

 private:
  struct Socket {
    bool want_read = false, want_write = false;
    bool armed = false;       // a poll is in flight
    unsigned armed_mask = 0;  // the events it watches
    uint32_t generation = 0;  // of the poll in flight
  };
  struct Pending;
  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable);
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  static void OnTimer(void* context);
  void Arm(int fd, Socket& socket);
  void Disarm(int fd, Socket& socket);
  unsigned Mask(const Socket& socket) const;
  void Process(int read_fd, int write_fd);
  void ScheduleTimer();

  core::Shard& shard_;
  const ResolverOptions options_;
  ares_channel channel_ = nullptr;
  absl::flat_hash_map<int, Socket> sockets_;
  uint32_t next_generation_ = 1;
  core::TimerNode timer_;
  std::shared_ptr<Resolver*> alive_;
  std::vector<std::function<void()>> deferred_;  // answers that came inside Query()
  bool in_query_ = false;
  bool destroying_ = false;
  uint64_t queries_sent_ = 0;
};

// c-ares' global state (once per process, before any shard starts).
absl::Status InitDnsLibrary();

}  // namespace ringpost::dns
