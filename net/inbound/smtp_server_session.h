// The SMTP server on a shard: one SmtpSession per accepted connection, driving the
// sans-I/O SmtpServer engine with the bytes the ring receives and the shard's spool
// (queue/spool.h: the queue log, and delivery once a message is durable) as its
// storage.
//
// Owned by the shard (SmtpService) and the connection (SmtpSession); single-threaded.
// Received bytes stay in their BufferLoans only while the engine has not consumed
// them: normally all of a buffer is consumed in the call that delivered it (a partial
// command line is copied into the engine), so a slow client pins nothing. While a
// message's commit is outstanding the engine stops reading; pipelined bytes behind it
// wait in their loans, bounded by the connection table's per-connection loan cap
// (ConnectionTableOptions::loans_per_connection_max), which pauses the socket.
// The 250 leaves only when the spool's durability callback has fired; a session that
// dies first leaves a callback that finds it gone and does nothing (the message is
// queued and delivered all the same, as it would be after any lost reply).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/cidr.h"
#include "core/clock.h"
#include "net/inbound/auth_failures.h"
#include "net/inbound/auth_users.h"
#include "net/inbound/client_limiter.h"
#include "net/inbound/dkim_shard.h"
#include "net/inbound/message_dkim.h"
#include "net/inbound/password_checker.h"
#include "net/inbound/pool_header.h"
#include "net/inbound/relay_policy.h"
#include "net/smtp/smtp_server.h"
#include "net/transport/connection_table.h"
#include "net/transport/tls_context.h"
#include "queue/accounting_log.h"
#include "queue/schedule/egress_pools.h"
#include "queue/spool.h"

namespace ringpost::net {

struct SmtpServiceConfig {
  SmtpServerOptions server;
  core::MonoNanos greeting_delay_nanos = 0;                          // --greeting_delay
  core::MonoNanos idle_timeout_nanos = 300 * core::kNanosPerSecond;  // RFC 5321 §4.5.3.2.7
  core::MonoNanos data_timeout_nanos = 600 * core::kNanosPerSecond;  // DATA/BDAT, see below
  // Deadlines for whole requests (Postfix's smtpd_per_request_deadline): a command line
  // must arrive whole within idle_timeout of its first byte; message data starts with
  // data_timeout, which each read extends by its bytes / min_data_rate (never past
  // data_timeout from now). A client dripping a byte at a time is cut off (421 4.4.2);
  // a slow but steady one is not.
  uint64_t min_data_rate_bytes = 500;  // per second
  // Clients held to --max_connections only, never to --max_connections_per_ip.
  core::CidrSet limit_exempt_networks;
  // Load balancers (--proxy_protocol_networks): their connections start with a PROXY
  // header naming the client, within proxy_timeout (net/inbound/proxied_session.h).
  core::CidrSet proxy_networks;
  core::MonoNanos proxy_timeout_nanos = 5 * core::kNanosPerSecond;
  // SMTP AUTH (--auth_users): who may log in, and the failures across the shards. Both
  // null: no AUTH. Each shard's service checks passwords through its own
  // PasswordChecker (set_password_checker).
  const AuthUsers* auth_users = nullptr;
  AuthFailures* auth_failures = nullptr;
  const TlsServerCredentials* tls = nullptr;  // --tls_cert/--tls_key: STARTTLS
  // DKIM signing (with a key table) and verification; each shard's service gets its
  // DkimShard (set_dkim) when either is on.
  DkimSigningOptions dkim;
  // --egress_pools (null: none) and --egress_sender_pools: the pool each message leaves
  // through. Mail of the relay networks and logged-in users may name a pool in an
  // X-Ringpost-Pool: field; every such field is removed before the message is stored.
  std::shared_ptr<const queue::EgressPools> egress_pools;
  std::shared_ptr<const queue::SenderPools> sender_pools;
};

// What a listener is for: mail from anywhere (--listen), or mail from users who log in
// first (--submission_listen, RFC 6409; --submissions_listen, TLS from the first byte,
// RFC 8314).
enum class ListenerRole { kRelay, kSubmission, kSubmissions };

class SmtpService final : public Service {
 public:
  // Everything referenced outlives the service (the runtime destroys the shard's
  // attachments in reverse order of creation).
  SmtpService(const SmtpServiceConfig& config, const RelayPolicy& relay, ClientLimiter& limiter,
              queue::Spool& spool, queue::AccountingWriter& accounting);

  // A session for the connection's peer; for a peer in proxy_networks, one that reads
  // the PROXY header first and then serves the client it names.
  std::unique_ptr<Session> NewSession(Connection& connection) override {
    return NewSession(connection, ListenerRole::kRelay);
  }
  std::unique_ptr<Session> NewSession(Connection& connection, ListenerRole role);
  void RejectOverLimit(int fd) override;

  const SmtpServiceConfig& config() const { return config_; }
  const RelayPolicy& relay() const { return relay_; }
  ClientLimiter& limiter() { return limiter_; }
  queue::Spool& spool() { return spool_; }
  // Reception records (one line per accepted message); the writer outlives the log, so
  // a commit callback may still write through it after the service is gone.
  queue::AccountingWriter& accounting() { return accounting_; }
  // Bytes the shard's log holds not yet written: sessions in DATA pause above a bound.
  uint64_t log_staged_bytes() const { return spool_.log().staged_bytes(); }
  // The newest certificate (after a SIGHUP reload); null without --tls_cert.
  std::shared_ptr<TlsContext> TlsContextNow() { return tls_.Get(); }

  struct Stats {
    uint64_t messages_accepted = 0, transactions_refused = 0, connections_refused = 0;
    uint64_t proxy_headers_refused = 0;       // a load balancer's connection without a valid header
    uint64_t logins = 0, login_failures = 0;  // SMTP AUTH
    uint64_t tls_handshakes = 0, tls_failures = 0;
  };
  Stats& stats() { return stats_; }
  // This shard's password checker (with auth_users); it outlives the service.
  void set_password_checker(PasswordChecker* checker) { password_checker_ = checker; }
  PasswordChecker* password_checker() { return password_checker_; }
  // This shard's DKIM state (keys and key records); null: no DKIM.
  void set_dkim(DkimShard* dkim) { dkim_ = dkim; }
  DkimShard* dkim() { return dkim_; }

 private:
  std::unique_ptr<Session> NewSessionFor(Connection& connection, const core::SocketAddress& client,
                                         ListenerRole role);

  const SmtpServiceConfig& config_;
  const RelayPolicy& relay_;
  ClientLimiter& limiter_;
  queue::Spool& spool_;
  queue::AccountingWriter& accounting_;
  TlsServerContextCache tls_;
  PasswordChecker* password_checker_ = nullptr;
  DkimShard* dkim_ = nullptr;
  Stats stats_;
};

// The service of a submission listener: the same SmtpService (its queue, limits and
// counters), with the listener's role.
class SmtpListenerService final : public Service {
 public:
  SmtpListenerService(SmtpService& service, ListenerRole role) : service_(service), role_(role) {}
  std::unique_ptr<Session> NewSession(Connection& connection) override {
    return service_.NewSession(connection, role_);
  }
  void RejectOverLimit(int fd) override { service_.RejectOverLimit(fd); }

 private:
  SmtpService& service_;
  const ListenerRole role_;
};

}  // namespace ringpost::net
