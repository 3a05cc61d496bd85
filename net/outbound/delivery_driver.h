// The driver of one shard's delivery scheduler (queue/schedule/delivery_scheduler.h):
// it carries the scheduler's actions out with the shard's I/O and reports what
// happened back as events, with the time. It holds no policy.
//
//   ResolveRoute    → NextHopResolver (local domains, --routes, DNS)
//   OpenConnection  → ConnectionTable::Connect with an OutboundSession (STARTTLS per
//                     --outbound_tls, a kept TLS session offered for resumption)
//   SendMessage     → the body read from its log records (BodyReader), then
//                     OutboundSession::Deliver
//   DeliverLocally  → MaildirWriter, one file per recipient, on the ring
//   CloseConnection → QUIT
//   (OpenConnection's TLS mode is the destination's from the shaping policy, or
//   --outbound_tls)
//   WriteResults    → result records in the message's home log (Spool::WriteResults:
//                     this shard's, or posted to the home shard and answered back)
//   WriteBounce     → a DSN built (queue/schedule/bounce.h) and committed through the
//                     spool, which schedules it like any message
//   CopyForward     → compaction's copy into this shard's log (queue/log_compaction.h)
//   JobFinished     → the spool's done notice
//   AccountingLines → this shard's AccountingWriter
//   WriteControl    → a control record in this shard's log (LogWriter::AppendControl)
//
// Actions run in the order decided. One that reports back at once (a connection our
// table refuses, a route known without a lookup, a body that cannot be read) feeds the
// scheduler an event whose actions run after the current ones, by the same loop: the
// scheduler itself is never re-entered. The driver arms one shard timer at the
// scheduler's next deadline (wall-clock time mapped onto the shard's monotonic clock).
//
// Owned by its shard; callbacks it hands the log, the resolver and the Maildir writer
// point at it and run only on the shard's loop, which has ended before the shard's
// objects are destroyed (the driver is created after them, so destroyed first).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/outbox.h"
#include "core/shard.h"
#include "core/sharded.h"
#include "core/timer_wheel.h"
#include "net/outbound/delivery_policy_files.h"
#include "net/outbound/egress_sources.h"
#include "net/outbound/next_hop.h"
#include "net/outbound/route_auth.h"
#include "net/outbound/smtp_client_session.h"
#include "net/outbound/tls_session_cache.h"
#include "net/redis/redis_client.h"
#include "net/transport/connection_table.h"
#include "queue/accounting_log.h"
#include "queue/log_reader.h"
#include "queue/maildir.h"
#include "queue/schedule/delivery_scheduler.h"
#include "queue/spool.h"

namespace ringpost::net {

struct DeliveryConfig {
  queue::SchedulerConfig scheduler;         // policy (the seed is set per shard)
  OutboundSessionOptions session;           // helo name (--hostname), reply timeout, TLS client context
  TlsPolicy tls_policy = TlsPolicy::kNone;  // --outbound_tls (needs session.tls_client)
  std::string hostname;                     // Reporting-MTA of bounces
  std::shared_ptr<const RouteAuth> route_auth;  // --route_auth (null: no logins)
  // --shaping and --bounce_rules, reloaded on SIGHUP (null: the built-in policies, and
  // scheduler.shaping / scheduler.bounce_rules as given).
  std::shared_ptr<DeliveryPolicyFiles> policy_files;
  // --egress_sources: the addresses OpenConnection's `source` names, with their EHLO
  // names (the pools are scheduler.egress_pools).
  std::vector<EgressSource> egress_sources;
};

class DeliveryDriver final : public queue::JobSink {
 public:
  DeliveryDriver(core::Shard& shard, const DeliveryConfig& config, queue::Spool& spool,
                 NextHopResolver& next_hops, queue::MaildirWriter& maildir, queue::AccountingWriter& accounting);
  ~DeliveryDriver() override;
  DeliveryDriver(const DeliveryDriver&) = delete;
  DeliveryDriver& operator=(const DeliveryDriver&) = delete;

  // The table outbound connections are made on (created after the driver, since the
  // SMTP service it serves hands messages to the spool this driver drains).
  void set_connections(ConnectionTable* table) { connections_ = table; }
  // The other shards' drivers, which a rule's action on a site reaches (a site spans
  // the shards; each keeps a share). Registers this one; without it, each shard's share
  // of a site reacts only to the replies it gets itself.
  void set_peers(core::Sharded<DeliveryDriver>* peers);
  // --redis: this shard's connection, where the shaping file's shared rates are kept
  // (its ups and downs reach the scheduler). Without it, shared rates are local.
  void set_redis(RedisClient* redis);

  // queue::JobSink: a job for a domain this shard owns.
  void AcceptJob(std::unique_ptr<queue::DeliveryJob> job) override;

  const queue::DeliveryScheduler& scheduler() const { return scheduler_; }
  // Where this shard's results go (their home shards' logs, through it).
  queue::Spool& spool() { return spool_; }
  // Where attempts' bodies came from (ReadForAttempt).
  struct BodyReads {
    uint64_t from_memory = 0, from_log = 0;
  };
  const BodyReads& body_reads() const { return body_reads_; }

  // Standing orders found in the log at start-up (this shard's domains): in force at
  // once, and from now on the log carries the scheduler's orders into new segments.
  void Restore(const std::vector<queue::ControlRecord>& orders);

  // Live queue control: `command(scheduler, now)` reads or decides; the driver then
  // carries out whatever it decided. Returns what `command` returns.
  template <typename Command>
  auto Control(Command&& command) {
    auto result = command(scheduler_, Now());
    Run();
    return result;
  }
  // A queued message's body (its log records), read at once; for `cat`.
  absl::Status ReadBody(const queue::StoredMessage& message, std::string* out) {
    return bodies_.Read(message.segment_path, message.body, out);
  }

 private:
  class Link;  // one outbound connection: the OutboundOwner of its session

  // A body for an attempt (sending, local delivery, a bounce's copy): from this shard's
  // newest log writes when they still hold it (LogWriter::recent_writes), else from
  // its log records.
  absl::Status ReadForAttempt(const queue::StoredMessage& message, std::string* out);
  // Runs the scheduler's actions until there are none (see above).
  void Run();
  void ArmTimer();
  static void OnTimer(void* context);
  // Once a second: a policy file reloaded (SIGHUP) reaches the scheduler.
  static void OnPolicyTimer(void* context);
  absl::Time Now() const;

  void Do(queue::ResolveRoute& action);
  void Do(queue::OpenConnection& action);
  void Do(queue::SendMessage& action);
  void Do(queue::DeliverLocally& action);
  void Do(queue::CloseConnection& action);
  void Do(queue::WriteResults& action);
  void Do(queue::WriteBounce& action);
  void Do(queue::CopyForward& action);
  void Do(queue::JobFinished& action);
  void Do(queue::AccountingLines& action);
  void Do(queue::WriteControl& action);
  void Do(queue::SiteActed& action);
  void Do(queue::TakeTokens& action);
  void Do(queue::ReturnTokens& action);
  void Do(queue::TakeLease& action);
  void Do(queue::RenewLeases& action);
  void Do(queue::ReleaseLeases& action);
  // On a peer's shard: its scheduler's share of the site follows.
  void SiteActedHere(void* pointer, uint64_t argument);

  // Session events (through Link).
  void OnReady(Link& link);
  void OnMessageDone(Link& link, std::vector<RecipientResult> results);
  // `refusal`: the greeting or EHLO reply that refused the session, if one did.
  void OnClosed(Link& link, const std::string& reason, const SmtpReply* refusal = nullptr);
  void OnTlsFailed(Link& link, const std::string& error);

  core::Shard& shard_;
  const DeliveryConfig config_;  // a copy: sessions keep references into it
  queue::Spool& spool_;
  NextHopResolver& next_hops_;
  queue::MaildirWriter& maildir_;
  queue::AccountingWriter& accounting_;
  ConnectionTable* connections_ = nullptr;
  core::Sharded<DeliveryDriver>* peers_ = nullptr;
  RedisClient* redis_ = nullptr;
  core::Outbox outbox_;  // to the peers
  // Each egress source's address and session options (its EHLO name); node-based, as
  // sessions keep references to their options.
  struct Egress {
    core::SocketAddress address;
    OutboundSessionOptions session;
  };
  std::map<std::string, Egress, std::less<>> egress_;
  queue::DeliveryScheduler scheduler_;
  queue::BodyReader bodies_;
  BodyReads body_reads_;
  TlsSessionCache tls_sessions_;
  absl::flat_hash_map<queue::ConnectionId, std::unique_ptr<Link>> links_;
  std::vector<queue::DeliveryAction> running_actions_;
  bool running_ = false;  // inside Run: events from actions leave their actions to its loop
  core::TimerNode timer_;
  core::TimerNode policy_timer_;
  uint64_t policy_generation_ = 0;
  absl::Time timer_at_ = absl::InfiniteFuture();
  uint64_t dsn_sequence_ = 0;
};

}  // namespace ringpost::net
