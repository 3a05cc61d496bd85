// ringpost-blast's work on one shard: its share of the connections, the SMTP client
// sessions that drive them, rate limiting, reconnection, and the shard's counters.
//
// Shards share only BlastShared (atomics: the message budget, the deadline, the
// done count). Counters are per shard, written by the shard with relaxed stores and
// read by the progress printer at any time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/socket_address.h"
#include "net/transport/connection_table.h"
#include "net/transport/tls_context.h"
#include "tools/blast/latency_histogram.h"
#include "tools/blast/message_factory.h"
#include "tools/blast/size_spec.h"

namespace ringpost::blast {

struct BlastConfig {
  core::SocketAddress target;
  int connections = 1;
  int64_t messages = 0;                // 0: until the deadline
  core::MonoNanos duration_nanos = 0;  // 0: until --messages are done
  SizeSpec size;
  int rcpts = 1;
  int domains = 1;
  std::string domain_prefix = "d";  // recipients' domains: PREFIXK.blast.test
  double zipf = 0;  // 0: uniform over the domains
  bool pipelining = true;
  double rate = 0;                  // messages/s in all, 0: unlimited
  int messages_per_connection = 0;  // 0: unlimited
  core::MonoNanos reply_timeout_nanos = 30 * core::kNanosPerSecond;
  std::string helo = "blast.ringpost.invalid";
  std::string from = "blast@ringpost-blast.invalid";
  bool keep_message_ids = false;
  uint64_t seed = 1;
  std::shared_ptr<net::TlsContext> tls;  // --starttls: STARTTLS when the server offers it
  bool tls_resume = true;                // --tls_resume
};

struct BlastShared {
  std::atomic<int64_t> messages_left{0};  // budget when --messages is set
  core::MonoNanos deadline = 0;           // monotonic, 0 when none
  std::atomic<int> shards_done{0};
};

struct BlastCounters {
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> accepted{0};  // final reply 2xx
  std::atomic<uint64_t> refused{0};   // a 4xx/5xx ended the transaction
  std::atomic<uint64_t> failed{0};    // connection lost, timeout or protocol error mid-message
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> sessions_failed{0};  // sessions that ended in an error (then reconnected)
  std::atomic<uint64_t> connections_opened{0};
  std::atomic<uint64_t> tls_handshakes{0};
  std::atomic<uint64_t> tls_resumed{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::array<std::atomic<uint64_t>, 600> final_codes{};  // the reply that ended each message
  LatencyHistogram latency;                              // final dot to its reply, microseconds

  static void Add(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

class BlastShard final : public net::Service {
 public:
  BlastShard(core::Shard& shard, const BlastConfig& config, BlastShared& shared, BlastCounters& counters,
             int connections, const std::string& run_id);
  ~BlastShard() override;

  // Opens this shard's connections. Call once from the shard's setup.
  void Start(net::ConnectionTable* table);

  std::unique_ptr<net::Session> NewSession(net::Connection& connection) override;  // never inbound
  const std::vector<std::string>& accepted_message_ids() const { return accepted_ids_; }

  // For sessions.
  const BlastConfig& config() const { return config_; }
  BlastCounters& counters() { return counters_; }
  MessageFactory& factory() { return factory_; }
  std::mt19937_64& rng() { return rng_; }
  int shard_id() const { return shard_.id(); }
  // Claims the next message; false when the budget or the time is up.
  bool ClaimMessage();
  // 0 when a message may start now, else how long to wait (rate limit). Reserves a
  // start slot either way.
  core::MonoNanos RateDelay(core::MonoNanos now);
  std::string PickRecipient();
  // Unique per run: run id, shard, and this shard's message sequence.
  std::string NextMessageId();
  void OnAccepted(std::string message_id);
  void OnSessionEnded(bool failed);
  // The shard's last TLS session, offered for resumption by its next connection.
  SSL_SESSION* tls_session() { return tls_session_.get(); }
  void KeepTlsSession(bssl::UniquePtr<SSL_SESSION> session) { tls_session_ = std::move(session); }

 private:
  bool WorkLeft() const;
  void MarkDone();
  void Open(int count);
  static void OnReconnectTimer(void* self);

  core::Shard& shard_;
  const BlastConfig& config_;
  BlastShared& shared_;
  BlastCounters& counters_;
  const int connections_;
  MessageFactory factory_;
  std::mt19937_64 rng_;
  std::vector<double> zipf_cdf_;
  net::ConnectionTable* table_ = nullptr;
  int live_sessions_ = 0;
  int reconnects_pending_ = 0;
  bool done_ = false;
  core::TimerNode reconnect_timer_;
  core::MonoNanos next_start_nanos_ = 0;  // the next free start slot under --rate
  std::vector<std::string> accepted_ids_;
  uint64_t message_sequence_ = 0;
  bssl::UniquePtr<SSL_SESSION> tls_session_;
};

}  // namespace ringpost::blast
