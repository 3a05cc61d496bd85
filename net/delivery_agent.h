// Outbound delivery on one shard (DESIGN.md, Domain affinity; issue: per-domain pools
// that batch, retry and bounce).
//
// Home side: Submit() takes a message whose commit is durable, splits it by recipient
// domain and hands each domain's job to the shard that owns the domain (hash of the
// domain) through Shard::Post. No locks: the only shared state is a job's MessageParts
// counter (atomic) that tells the last finisher to send the "done" notice home.
//
// Owning side, per destination domain: a queue of due jobs, jobs waiting for their
// retry time (a timer each), and a pool of OutboundSessions — at most
// domain_max_connections for the domain and host_max_connections per next-hop
// address (this shard's share), each reused for up to max_messages_per_connection
// messages and closed with QUIT after idle_timeout without work. A job is one message's
// recipients in one domain: one transaction. Recipients the server answered 452 while
// it took others go again at once, in a new transaction (RFC 5321 §4.5.3.1.10).
//
// Outcomes (queue/delivery_outcome.h) become result records in this shard's log and
// one accounting line each. Recipients that bounce get one DSN per message per batch,
// committed to this shard's log before their result records (a crash between the two
// sends a second DSN rather than none), then delivered like any message. A message from
// the null sender never gets one: its failure is logged and dropped.
//
// Connection failures: the next address is tried; when every address failed in a row
// the domain rests (circuit breaker: no new connection for RetryDelay(rests), escalated
// once per rest) and, unless another of its connections works, its due jobs are
// deferred (their attempt counts). Other domains are not held up. A connection our own
// table refuses (no slot, no descriptor) is not the domain's fault: retried in 1 s.
//
// Shutdown: no new connection; idle sessions QUIT; a message in flight is reported as
// deferred (a possible duplicate after the final dot) and its result written if the
// log still runs; jobs not finished are simply delivered again after the restart.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/shard.h"
#include "core/timer_wheel.h"
#include "net/connection_table.h"
#include "net/next_hop.h"
#include "net/smtp_client_session.h"
#include "queue/accounting_log.h"
#include "queue/delivery_job.h"
#include "queue/delivery_outcome.h"
#include "queue/log_reader.h"
#include "queue/log_writer.h"
#include "queue/queue_id.h"
#include "queue/retry_schedule.h"

namespace ringpost::net {

struct DeliveryConfig {
  queue::RetrySchedule retry;
  uint32_t domain_max_connections = 20;
  uint32_t host_max_connections = 10;  // per shard
  uint32_t max_messages_per_connection = 100;
  core::MonoNanos idle_timeout_nanos = 5 * core::kNanosPerSecond;
  OutboundSessionOptions session;           // helo name (--hostname), reply timeout, TLS client context
  TlsPolicy tls_policy = TlsPolicy::kNone;  // --outbound_tls (needs session.tls_client)
  // Opportunistic TLS: after a failed handshake the host gets plaintext this long.
  core::MonoNanos tls_fallback_nanos = 3600 * core::kNanosPerSecond;
  // Compaction: a job still deferred this long after its copy was written is copied
  // forward into this shard's head segment (as a new message holding its recipients),
  // so old segments do not stay pinned by long-deferred mail. 0: never.
  core::MonoNanos compaction_age_nanos = 1800 * core::kNanosPerSecond;
  std::string hostname;  // Reporting-MTA of bounces
  std::string maildir_root;
};

class DeliveryAgent {
 public:
  // One agent per shard, made on the shard's thread (handoffs find it there).
  DeliveryAgent(core::Shard& shard, const DeliveryConfig& config, NextHopResolver& next_hops,
                queue::LogWriter& log, queue::QueueIdGenerator& ids, queue::AccountingLog& accounting);
  ~DeliveryAgent();
  DeliveryAgent(const DeliveryAgent&) = delete;
  DeliveryAgent& operator=(const DeliveryAgent&) = delete;

  // The table outbound connections are made on (created after the agent, since the
  // SMTP service it serves hands messages to this agent).
  void set_connections(ConnectionTable* table) { connections_ = table; }

  // Home side: `message` is durable in this shard's log.
  void Submit(const queue::QueuedMessage& message);
  // The same for a message the SMTP server just committed at `location`.
  void SubmitDurable(queue::Envelope envelope, const queue::MessageLocation& location);
  // Null once the agent is gone: for callbacks that may outlive it.
  const std::shared_ptr<DeliveryAgent*>& handle() const { return alive_; }
  // Owning side: a job for a domain this shard owns.
  void Accept(std::unique_ptr<queue::DeliveryJob> job);

  static constexpr size_t kTlsSessionsMax = 10000;  // resumable sessions (and TLS-failed hosts) per shard

  struct Stats {
    uint64_t jobs_accepted = 0, attempts = 0, delivered = 0, deferred = 0, bounced = 0, expired = 0,
             dsns_queued = 0, dsns_suppressed = 0, connections_opened = 0, connection_failures = 0,
             connections_handed_over = 0, messages_finished = 0, tls_handshake_failures = 0,
             jobs_compacted = 0;
  };
  const Stats& stats() const { return stats_; }
  size_t jobs() const { return jobs_.size(); }

 private:
  struct Domain;
  struct Job;
  struct Member;

  Domain& DomainFor(const std::string& name);
  void Schedule(Job* job);
  void MakeDue(Job* job);
  void BeginAttempt(Job* job);
  void Pump(Domain& domain);
  void PumpSmtp(Domain& domain);
  bool OpenConnection(Domain& domain);
  void StartOn(Member& member, Job* job);
  bool LoadBody(Job* job, std::string* error);
  // Hands a job's body buffer back once the attempt no longer needs it: a few are kept
  // for the next loads, which then need no allocation, nor any zero-fill when an
  // earlier body was at least as long (the read fills them).
  void DropBody(Job* job);
  void DeliverLocal(Job* job);
  void FailAll(Domain& domain, const std::string& status, int code, const std::string& text);
  struct Batch;
  void Complete(Job* job, const std::vector<queue::AttemptReply>& replies, const std::string& host,
                const TlsSummary* tls = nullptr);
  void QueueBounce(Job* job, const std::shared_ptr<Batch>& batch);
  void KeepBouncesDeferred(Batch& batch);
  void WriteResults(Job* job, const std::shared_ptr<Batch>& batch);
  void FinishBatch(Job* job, const Batch& batch);
  void FinishJob(Job* job);
  bool ShouldCompact(const Job* job) const;
  void Compact(Job* job);
  void FinishCompaction(Job* job, std::string queue_id, const queue::MessageLocation& location);
  void NoticeFinished(const std::shared_ptr<queue::MessageParts>& parts);
  void PostOrKeep(int target, const core::Envelope& envelope);
  void OnTurn();
  void MaybeForget(Domain& domain);

  void OnMemberReady(Member& member);
  Domain* DomainWaitingFor(const std::string& host);
  void HandOver(Member& member, Domain& taker);
  void OnMemberDone(Member& member, std::vector<RecipientResult> results);
  void OnMemberClosed(Member& member, const std::string& reason);
  void OnMemberTlsFailed(Member& member, const std::string& error);
  OutboundTls TlsFor(const std::string& host, const std::string& name);
  void KeepTlsSession(const std::string& key, bssl::UniquePtr<SSL_SESSION> session);
  static std::string TlsSessionKey(const std::string& host, const std::string& sni);
  static std::string NameOf(const Domain& domain, const std::string& host);  // the MX name of an address
  static void OnJobTimer(void* context);
  static void OnDomainTimer(void* context);
  static void OnIdleTimer(void* context);
  static void ReceiveJob(core::Shard& shard, void* pointer, uint64_t argument);
  static void DisposeJob(void* pointer, uint64_t argument);
  static void ReceiveFinished(core::Shard& shard, void* pointer, uint64_t argument);
  double UnitRandom();

  core::Shard& shard_;
  const DeliveryConfig& config_;
  NextHopResolver& next_hops_;
  queue::LogWriter& log_;
  queue::QueueIdGenerator& ids_;
  queue::AccountingLog& accounting_;
  ConnectionTable* connections_ = nullptr;
  absl::flat_hash_map<std::string, std::unique_ptr<Domain>> domains_;
  std::list<Job> jobs_;  // every job this shard owns (stable addresses for timers)
  absl::flat_hash_map<std::string, uint32_t> host_connections_;  // per next-hop address
  std::vector<std::unique_ptr<Member>> closed_members_;          // freed at the end of the turn
  std::vector<std::pair<int, core::Envelope>> unposted_;         // handoff queue was full
  std::vector<std::string> maybe_empty_;                         // domains to forget if idle
  std::vector<std::string> waiting_for_host_;                    // held back by host_max_connections
  std::vector<Member*> idle_members_;                            // sessions that have idled (may be busy now)
  absl::flat_hash_map<std::string, core::MonoNanos> plaintext_until_;  // host → TLS handshake failed
  absl::flat_hash_map<std::string, bssl::UniquePtr<SSL_SESSION>> tls_sessions_;  // "host sni" → to resume
  std::shared_ptr<DeliveryAgent*> alive_;  // callbacks check it (log, resolver)
  queue::SegmentFiles segment_files_;      // open segment files bodies are read from
  std::vector<std::string> spare_bodies_;  // body buffers for the next loads (DropBody)
  std::mt19937_64 random_;
  uint64_t maildir_unique_ = 0;
  uint64_t dsn_sequence_ = 0;
  bool stopping_ = false;
  bool opening_ = false;  // inside ConnectionTable::Connect
  Stats stats_;
};

}  // namespace ringpost::net
