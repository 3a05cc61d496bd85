// The SMTP server on a shard: one SmtpSession per accepted connection, driving the
// sans-I/O SmtpServer engine with the bytes the ring receives and the shard's queue
// log (queue/log_writer.h) as its storage.
//
// Owned by the shard (SmtpService) and the connection (SmtpSession); single-threaded.
// Received bytes stay in their BufferLoans only while the engine has not consumed
// them: normally all of a buffer is consumed in the call that delivered it (a partial
// command line is copied into the engine), so a slow client pins nothing. While a
// message's commit is outstanding the engine stops reading; pipelined bytes behind it
// wait in their loans, bounded by the connection table's per-connection loan cap
// (ConnectionTableOptions::loans_per_connection_max), which pauses the socket.
// The 250 leaves only when the log's durability callback has fired; a session that
// dies first leaves a callback that finds it gone and does nothing (the message is
// queued all the same, as it would be after any lost reply).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.h"
#include "net/client_limiter.h"
#include "net/connection_table.h"
#include "net/delivery_agent.h"
#include "net/relay_policy.h"
#include "net/smtp_server.h"
#include "net/tls_context.h"
#include "queue/log_writer.h"
#include "queue/queue_id.h"

namespace ringpost::net {

struct SmtpServiceConfig {
  SmtpServerOptions server;
  core::MonoNanos greeting_delay_nanos = 0;                          // --greeting_delay
  core::MonoNanos idle_timeout_nanos = 300 * core::kNanosPerSecond;  // RFC 5321 §4.5.3.2.7
  core::MonoNanos data_timeout_nanos = 600 * core::kNanosPerSecond;  // between DATA bytes
  const TlsServerCredentials* tls = nullptr;                         // --tls_cert/--tls_key: STARTTLS
};

class SmtpService final : public Service {
 public:
  // Everything referenced outlives the service (the runtime destroys the shard's
  // attachments in reverse order of creation).
  // `delivery` (may be null: accept-only, as in tests) hears every durable message.
  SmtpService(const SmtpServiceConfig& config, const RelayPolicy& relay, ClientLimiter& limiter,
              queue::LogWriter& log, queue::QueueIdGenerator& ids, DeliveryAgent* delivery = nullptr);

  std::unique_ptr<Session> NewSession(Connection& connection) override;
  void RejectOverLimit(int fd) override;

  const SmtpServiceConfig& config() const { return config_; }
  const RelayPolicy& relay() const { return relay_; }
  ClientLimiter& limiter() { return limiter_; }
  queue::LogWriter& log() { return log_; }
  std::string NextQueueId();
  // The newest certificate (after a SIGHUP reload); null without --tls_cert.
  std::shared_ptr<TlsContext> TlsContextNow() { return tls_.Get(); }
  const std::shared_ptr<DeliveryAgent*>& delivery() const { return delivery_; }

  struct Stats {
    uint64_t messages_accepted = 0, transactions_refused = 0, connections_refused = 0;
    uint64_t tls_handshakes = 0, tls_failures = 0;
  };
  Stats& stats() { return stats_; }

 private:
  const SmtpServiceConfig& config_;
  const RelayPolicy& relay_;
  ClientLimiter& limiter_;
  queue::LogWriter& log_;
  queue::QueueIdGenerator& ids_;
  std::shared_ptr<DeliveryAgent*> delivery_;
  TlsServerContextCache tls_;
  Stats stats_;
};

}  // namespace ringpost::net
