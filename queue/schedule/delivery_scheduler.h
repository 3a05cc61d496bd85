// The delivery scheduler of one shard: all delivery policy, and no I/O (the split
// Postfix makes between its queue manager and its transports).
//
// Events come in with the time passed in (a job arrived, a route was resolved, a
// connection is ready or closed, a transaction's replies, results written, a timer);
// actions go out (resolve a route, open a connection, send a message on it, deliver
// locally, close with QUIT, write result records, write a bounce, copy a job forward,
// a job finished, accounting lines). A thin driver on the shard
// (net/outbound/delivery_driver.h) carries the actions out and reports back. The
// scheduler never calls out, so nothing it does can re-enter it; tests drive it with a
// fake clock, and tests/sim/ drives thousands of messages through it against a
// simulated network and disk.
//
// Policy held here:
//  - Per destination domain: a queue of due jobs, the route (asked again after its
//    valid_for), a pool of connections: at most domain_max_connections for the domain
//    and host_max_connections per next-hop address (this shard's share), each reused
//    for up to max_messages_per_connection messages and closed with QUIT after
//    idle_timeout without work. New connections open only while more jobs are due than
//    connections are opening.
//  - A connection is to a host, not a domain: an idle one is handed over as it is to a
//    domain waiting for the same host (domains behind one smarthost share connections),
//    and when every host of a domain is at its limit an idle connection to one of them
//    is taken over at once.
//  - Failures: a connection that never became ready counts against its domain and
//    moves the next attempt to the next address; once every address failed in a row
//    (and no connection of the domain works) the due jobs are deferred and the domain
//    rests for RetryDelay(rests) (a circuit breaker; other domains are not held up).
//    A connection our own table could not open (no slot, no descriptor) is not the
//    domain's fault: tried again after local_failure_retry.
//  - Opportunistic TLS: a host whose handshake failed gets plaintext for a while.
//  - Outcomes (queue/schedule/delivery_outcome.h): 2xx delivered, 5xx bounced, 4xx or no
//    reply deferred with backoff until the lifetime ends (expired). Recipients answered
//    452 beside accepted ones go again at once in a new transaction (RFC 5321
//    §4.5.3.1.10), without counting an attempt.
//  - Bounces: one DSN per failed batch, written before the result records that say
//    "bounced" (a crash in between sends a second DSN rather than none); never for the
//    null sender (RFC 5321 §6.1); a DSN that cannot be written keeps its recipients
//    deferred.
//  - Results: a job is rescheduled or finished only once its result records are
//    written; a finished job is handed back for the message's "done" notice.
//  - Compaction: a job still deferred compaction_age after this shard took it over (or
//    last copied it) is copied forward into this shard's log, so old segments do not
//    stay pinned by long-deferred mail.
//  - Traffic shaping (queue/schedule/shaping.h): each domain's settings come from the
//    shaping policy over the flags; a domain and its site each keep a Throttle (rates
//    as GCRA, connection limits, suspensions and ramps). A site's budgets are shared
//    out between the shards (this one keeps its share), a domain's are its home
//    shard's alone. Waiting for a rate is a timer on the wheel. Every attempt's replies
//    go through the reply-driven rules; their actions are accounting lines.
//  - Shutdown: no new connection; a connection ready for more QUITs.
//
// Time: `now` is wall-clock time (result records and retry times are wall-clock, so
// they survive restarts); timers fire through OnTimer at or after NextTimer(). Randomness
// (retry jitter, the order of equal MX hosts is the resolver's) comes from a seeded
// generator, so a seed replays a run exactly. Single-threaded: one per shard.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/metrics.h"
#include "core/socket_address.h"
#include "core/timer_wheel.h"
#include "queue/record.h"
#include "queue/schedule/bounce.h"
#include "queue/schedule/bounce_class.h"
#include "queue/schedule/delivery_job.h"
#include "queue/schedule/delivery_outcome.h"
#include "queue/schedule/egress_pools.h"
#include "queue/schedule/next_hop.h"
#include "queue/schedule/retry_schedule.h"
#include "queue/schedule/shaping.h"
#include "queue/schedule/shared_leases.h"
#include "queue/schedule/shared_rate.h"

namespace ringpost::queue {

using JobId = uint64_t;
using ConnectionId = uint64_t;
using BatchId = uint64_t;

struct SchedulerConfig {
  RetrySchedule retry;
  uint32_t domain_max_connections = 20;
  uint32_t host_max_connections = 10;  // this shard's share of --host_max_connections
  uint32_t max_messages_per_connection = 100;
  absl::Duration idle_timeout = absl::Seconds(5);
  // Opportunistic TLS: after a failed handshake the host gets plaintext this long
  // (zero: never; --outbound_tls=required defers instead).
  absl::Duration tls_fallback = absl::ZeroDuration();
  absl::Duration compaction_age = absl::Minutes(30);  // zero: never
  absl::Duration local_failure_retry = absl::Seconds(1);
  // --delay_warning_time: a recipient still deferred this long after arrival gets one
  // "delayed" report (RFC 3464) unless its NOTIFY leaves DELAY out; zero: never.
  absl::Duration delay_warning = absl::ZeroDuration();
  // How failures are classified (--bounce_rules before the built-in rules); null: the
  // built-in rules alone.
  std::shared_ptr<const BounceRules> bounce_rules;
  // Traffic shaping (--shaping); null: the flags alone, with the built-in rules. A
  // site's budgets are shared out between `shards` shards; this is shard `shard`.
  std::shared_ptr<const ShapingPolicy> shaping;
  uint32_t shard = 0;
  uint32_t shards = 1;
  // --egress_pools: a job of a message with a pool takes one of its sources; null or
  // empty: every job leaves from the default source.
  std::shared_ptr<const EgressPools> egress_pools;
  // Each egress source's address family (AF_INET or AF_INET6): a source's queue uses
  // only the next hop's addresses of its family.
  absl::flat_hash_map<std::string, int> source_families;
  // --redis: the shaping file's `shared = true` message rates and connection limits
  // hold for the whole cluster, in Redis (TakeTokens, TakeLease); while Redis is away
  // (OnClusterState) each node keeps to limit ÷ `cluster_nodes` on its own. Off: shared
  // limits are kept like any other. `node` names this node in its leases.
  bool cluster = false;
  uint32_t cluster_nodes = 1;
  std::string node = "node";
  uint64_t seed = 1;
};

// ---- Actions: what the driver does --------------------------------------------------

// Look up `domain`'s next hop; answer with OnRouteResolved for `queue` (the domain, or
// with an egress source the domain's queue from that source).
struct ResolveRoute {
  std::string domain;
  std::string queue;
};
// Open a connection to `address` (TLS server name `name`, empty for none; `plaintext`:
// no STARTTLS this time). Answer with OnConnectionReady once greeted, or
// OnConnectionClosed (also at once, when no connection can be made).
struct OpenConnection {
  ConnectionId connection = 0;
  core::SocketAddress address;
  std::string name;
  bool plaintext = false;
  TlsMode tls = TlsMode::kInherit;  // the destination's, from the shaping policy
  std::string source;               // the egress source (--egress_sources); empty: the default
};
// Send one transaction on a ready connection; answer with OnMessageSent (one reply per
// recipient, in order), or OnMessageNotSent when the body cannot be read.
struct SendMessage {
  ConnectionId connection = 0;
  std::shared_ptr<StoredMessage> message;
  std::vector<std::string> recipients;
  std::vector<std::string> recipient_dsn;  // each one's NOTIFY/ORCPT for a next hop with DSN
};
// Deliver into Maildirs; answer with OnLocalDelivered.
struct DeliverLocally {
  JobId job = 0;
  std::shared_ptr<StoredMessage> message;
  std::string domain;
  std::vector<std::string> recipients;
};
// End an idle connection with QUIT (DESIGN.md); OnConnectionClosed follows.
struct CloseConnection {
  ConnectionId connection = 0;
};
// Append result records; answer with OnResultsWritten once all are durable or failed.
// With `finished` set, there is nothing to answer: once they are written, that
// message's job is finished (the records of a job copied forward, under its old id).
// Batch 0: nothing to answer either (an operator's hold or release). The results are
// one message's, written in its home shard's log (Spool::WriteResults).
struct WriteResults {
  BatchId batch = 0;
  std::vector<DeliveryResult> results;
  std::shared_ptr<StoredMessage> finished;
  int home_shard = 0;
};
// Write a DSN to `message`'s sender naming `recipients`; answer with OnBounceWritten.
struct WriteBounce {
  BatchId batch = 0;
  std::shared_ptr<StoredMessage> message;
  std::vector<ReportedRecipient> recipients;
  absl::Time now;
};
// Copy the job's recipients (with their state) forward into this shard's log as a new
// message; answer with OnCopiedForward.
struct CopyForward {
  JobId job = 0;
  std::shared_ptr<StoredMessage> message;
  std::vector<JobRecipient> recipients;
};
// The job is done with `message`: its "done" notice may go home.
struct JobFinished {
  std::shared_ptr<StoredMessage> message;
};
// Accounting log lines (queue/schedule/accounting_line.h), ready to write.
struct AccountingLines {
  std::string lines;
};
// Write an operator's standing order to the log (no answer: the order is in force at
// once, and carried into every new segment).
struct WriteControl {
  ControlRecord record;
};

// A reply-driven rule acted on a site (suspended it, set its rate or connection limit,
// or bounced its queues): every other shard's share of the site must follow
// (OnSiteActed there).
struct SiteActed {
  std::string site;    // "mx:*.google.com"
  std::string source;  // the egress source whose share it is (empty: the default)
  AutomationRule rule;
  absl::Time until;
  std::string reason;
};

// A shared rate (SchedulerConfig::cluster) needs tokens: take up to `count` from the
// cluster's GCRA for `key` in Redis (`rate`, with a burst of `tolerance`); answer with
// OnTokens.
struct TakeTokens {
  std::string key;
  Rate rate;
  uint32_t count = 0;
  absl::Duration tolerance;
};
// Tokens taken and not used: back to the cluster's GCRA (no answer awaited).
struct ReturnTokens {
  std::string key;
  Rate rate;
  uint32_t count = 0;
};

// A shared connection limit needs a lease for another connection: take lease `id` of
// the cluster's `limit` leases at `key` (lapsing after `ttl` unless renewed); answer
// with OnLease.
struct TakeLease {
  std::string key;
  uint32_t limit = 0;
  absl::Duration ttl;
  std::string id;
};
// Leases held: renewed for another `ttl` (no answer awaited).
struct RenewLeases {
  std::string key;
  std::vector<std::string> ids;
  absl::Duration ttl;
};
// Leases no longer needed (no answer awaited).
struct ReleaseLeases {
  std::string key;
  std::vector<std::string> ids;
};

using DeliveryAction =
    std::variant<ResolveRoute, OpenConnection, SendMessage, DeliverLocally, CloseConnection, WriteResults,
                 WriteBounce, CopyForward, JobFinished, AccountingLines, WriteControl, SiteActed, TakeTokens,
                 ReturnTokens, TakeLease, RenewLeases, ReleaseLeases>;

// ---- Operator views and commands (live queue control) ------------------------------

// One destination domain (from one egress source), as `ringpost-queue summary` shows it.
struct DomainSummary {
  std::string domain;
  std::string source;       // empty: the default
  uint64_t recipients = 0;  // queued, in any state
  uint64_t jobs = 0;
  uint64_t in_flight = 0;   // recipients in an attempt now
  uint64_t deferred = 0;    // recipients that failed at least once
  uint64_t held = 0;        // recipients of held messages
  absl::Time oldest = absl::InfiniteFuture();  // earliest arrival of its messages
  std::string last_reply;
  absl::Time suspended_until = absl::InfinitePast();
  std::string suspension_reason;
  uint32_t connections = 0;
};

// One job (a message's recipients in one domain), as `list` and `show` show it.
struct JobView {
  JobId id = 0;
  std::shared_ptr<StoredMessage> message;
  std::string domain;
  std::vector<JobRecipient> recipients;  // not final yet
  bool held = false;
  bool in_flight = false;
  absl::Time next_attempt = absl::InfinitePast();
  std::string last_reply;
};

// Which jobs a listing or a command is about. Empty fields match everything; a command
// over many messages needs a selector (the caller checks).
struct JobFilter {
  std::string queue_id;
  std::string domain;           // canonical
  std::string sender;           // exact, case-insensitive
  absl::Duration older_than = absl::ZeroDuration();
  // Set: only jobs leaving from this egress source ("": the default address).
  std::optional<std::string> source;
};

struct Suspension {
  std::string domain;
  std::string source;  // a rule's suspension of one egress source's queue; empty: all
  absl::Time until;
  std::string reason;
};

enum class AdminCommand { kHold, kRelease, kDelete, kBounce };

// What TLS did for a transaction (for accounting): `description` is "none" in plaintext.
struct TlsReport {
  std::string description = "none";
  std::string sni;        // the name the certificate was checked against
  bool verified = false;  // the chain was trusted and named `sni`
};

class DeliveryScheduler {
 public:
  DeliveryScheduler(const SchedulerConfig& config, absl::Time now);
  ~DeliveryScheduler();
  DeliveryScheduler(const DeliveryScheduler&) = delete;
  DeliveryScheduler& operator=(const DeliveryScheduler&) = delete;

  // ---- Events ----
  // A job for a domain this shard owns.
  void Accept(std::unique_ptr<DeliveryJob> job, absl::Time now);
  // `queue`: as ResolveRoute named it.
  void OnRouteResolved(const std::string& queue, NextHop hop, absl::Time now);
  // The connection can take a message (greeted, or done with the last one).
  void OnConnectionReady(ConnectionId connection, absl::Time now);
  void OnMessageSent(ConnectionId connection, std::vector<AttemptReply> replies, const TlsReport& tls,
                     absl::Time now);
  // The body could not be read: the attempt is deferred; the connection is still ready.
  void OnMessageNotSent(ConnectionId connection, const std::string& error, absl::Time now);
  // The STARTTLS handshake failed (OnConnectionClosed follows).
  void OnTlsFailed(ConnectionId connection, absl::Time now);
  // Last event of a connection. `local`: our own table could not open it. `refusal`:
  // the greeting or EHLO reply that refused it before it was ready, if one did (the
  // reply-driven rules see it).
  void OnConnectionClosed(ConnectionId connection, const std::string& reason, bool local, absl::Time now,
                          const AttemptReply* refusal = nullptr);
  void OnLocalDelivered(JobId job, std::vector<AttemptReply> replies, absl::Time now);
  void OnResultsWritten(BatchId batch, absl::Time now);
  void OnBounceWritten(BatchId batch, bool queued, absl::Time now);
  // `copy`: the new message holding the job's recipients, or null when the copy failed.
  void OnCopiedForward(JobId job, std::shared_ptr<StoredMessage> copy, absl::Time now);
  void OnTimer(absl::Time now);
  // Another shard's rule acted on a site: this shard's share follows.
  void OnSiteActed(const SiteActed& acted, absl::Time now);
  // Redis's answer to TakeTokens: `granted` tokens, or none before `wait`; `failed`:
  // no answer (Redis away or refusing).
  void OnTokens(const std::string& key, uint32_t granted, absl::Duration wait, bool failed, absl::Time now);
  // Redis's answer to TakeLease: granted, or not before `wait`; `failed`: no answer.
  void OnLease(const std::string& key, const std::string& id, bool granted, absl::Duration wait, bool failed,
               absl::Time now);
  // The connection to Redis came up (shared limits in Redis) or went (each node keeps
  // to its fallback share).
  void OnClusterState(bool up, absl::Time now);
  // The shard is stopping: no new connection, and ready connections QUIT.
  void Stop(absl::Time now);

  // ---- Operator views and commands (delivery_scheduler_admin.cc) ----
  // Views are read at once; commands decide actions like any event.
  std::vector<DomainSummary> Summary(size_t top, absl::Time now) const;
  // Jobs matching `filter` with ids after `after`, at most `limit`, looking at no more
  // than `examine` jobs (a listing pages through the queue this way, in bounded memory
  // and bounded time per call, however rare the matches). `*next`, if given, is where
  // the following page starts, 0 once the end was reached.
  std::vector<JobView> List(const JobFilter& filter, JobId after, size_t limit, absl::Time now,
                            size_t examine = SIZE_MAX, JobId* next = nullptr) const;
  // No new attempt for `domain` (from any egress source; connections at work finish
  // theirs) until `until`.
  void Suspend(const std::string& domain, absl::Time until, const std::string& reason, absl::Time now);
  // Ends the operator's and the rules' suspensions of `domain` (every egress source's
  // queue). False when it was not suspended.
  bool Resume(const std::string& domain, absl::Time now);
  std::vector<Suspension> Suspensions(absl::Time now) const;
  // Deferred jobs matching `filter` are tried again now, spread over up to a minute so a
  // million flushed messages do not open connections all at once. Returns how many.
  size_t Flush(const JobFilter& filter, absl::Time now, size_t* recipients = nullptr);
  // Hold (no attempt until released), release, delete (final, no DSN) or bounce (a DSN
  // to the sender, `reason` quoted; 5.0.0) the jobs matching `filter`, in pages: at most
  // `limit` jobs with ids after `*cursor`; `*cursor` is left at the last job looked at,
  // or 0 when the queue's end was reached. A job in an attempt gets the command once the
  // attempt is over. Returns how many jobs matched (and adds their recipients to
  // `*recipients`, if given).
  size_t Apply(AdminCommand command, const JobFilter& filter, const std::string& reason, JobId* cursor,
               size_t limit, absl::Time now, size_t* recipients = nullptr);
  // Result and DSN writes not yet reported back (a paged command waits for these to
  // drain between pages, so a bounce over a million messages holds little at once).
  size_t writes_pending() const { return batches_.size(); }
  // The newest write decided so far, and whether every write up to it was reported
  // back (a command's reply waits for its own records).
  BatchId last_batch() const { return next_batch_ - 1; }
  bool WrittenThrough(BatchId batch) const;
  // A new shaping policy (SIGHUP): every domain's settings are taken again; what its
  // throttles hold (rates' times, suspensions, ramps) stays.
  void SetShaping(std::shared_ptr<const ShapingPolicy> policy, absl::Time now);
  // New failure-class rules (SIGHUP); null: the built-in ones.
  void SetBounceRules(std::shared_ptr<const BounceRules> rules) { bounce_rules_ = std::move(rules); }
  // A standing order found in the log at start-up.
  void Restore(const ControlRecord& order, absl::Time now);
  // The orders in force, to carry into a new log segment.
  std::vector<ControlRecord> StandingOrders(absl::Time now) const;

  // ---- Output ----
  // Actions in the order they were decided; the driver takes them all (TakeActions
  // swaps them out) and runs them, reporting back through the events above.
  bool has_actions() const { return !actions_.empty(); }
  void TakeActions(std::vector<DeliveryAction>* out);
  // When OnTimer should run next (absl::InfiniteFuture(): no timer).
  absl::Time NextTimer() const;

  struct Stats {
    uint64_t jobs_accepted = 0, attempts = 0, delivered = 0, deferred = 0, bounced = 0, expired = 0,
             dsns_queued = 0, dsns_suppressed = 0, connections_opened = 0, connection_failures = 0,
             connections_handed_over = 0, messages_finished = 0, tls_handshake_failures = 0,
             jobs_compacted = 0, possible_duplicates = 0, deleted = 0, held = 0, flushed = 0;
    std::array<uint64_t, kBounceClassCount> failures_by_class{};  // deferrals, bounces, expiries
    std::array<uint64_t, kAutomationActionCount> shaping_actions{};  // reply-driven rules that acted
    uint64_t shaping_waits = 0;              // times a destination's due mail waited for its rate
    uint64_t shared_token_asks = 0;          // TakeTokens sent
    uint64_t shared_tokens_granted = 0;      // tokens they brought
    uint64_t shared_tokens_returned = 0;     // tokens given back unused
    uint64_t cluster_fallbacks = 0;          // times Redis went away (local fallback limits)
    uint64_t shared_lease_asks = 0;          // TakeLease sent
    uint64_t shared_leases_granted = 0;      // of those, granted
    core::HistogramCounts time_in_queue;     // arrival to a final outcome, per recipient
    core::HistogramCounts delivery_latency;  // one attempt, sent to replied (or delivered locally)
  };
  const Stats& stats() const { return stats_; }
  // Shared rates are kept in Redis now (OnClusterState).
  bool cluster_up() const { return cluster_up_; }
  size_t jobs() const { return jobs_.size(); }
  size_t domains() const { return domains_.size(); }
  size_t connections() const { return connections_.size(); }

 private:
  struct Job;
  struct Domain;
  struct Connection;
  struct Batch;
  struct Site;

  // Jobs and their times. A destination's queue from one egress source is a Domain of
  // its own (keyed "domain/source"); without a source the key is the domain.
  static std::string QueueKey(const std::string& domain, const std::string& source);
  Domain& DomainFor(const std::string& name, const std::string& source = "");
  // The destination's queue without a source, which holds an operator's suspension
  // for all of its sources (null when there is none).
  const Domain* OperatorQueue(const Domain& domain) const;
  // Adds (+1) or takes away (-1) the job's share of its domain's counters; around every
  // change to its recipients or its hold.
  void Count(const Job& job, int sign);
  void Schedule(Job& job);
  void MakeDue(Job& job);
  // At most `recipients_max` of the job's due recipients (a destination's
  // max_recipients_per_transaction); the others stay due.
  void BeginAttempt(Job& job, size_t recipients_max = SIZE_MAX);
  // Domains.
  // A source's queue keeps only the next hop's addresses its source can reach (its
  // address family).
  void KeepSourceFamily(Domain& domain);
  void Pump(Domain& domain);
  void PumpSmtp(Domain& domain);
  void FailAll(Domain& domain, const std::string& status, int code, const std::string& text);
  bool Open(Domain& domain);
  bool TakeOverIdle(Domain& domain);
  void WaitForHost(Domain& domain);
  void Rest(Domain& domain, const Connection& failed, const std::string& reason);
  void Forget(Domain& domain);
  // Connections.
  void Ready(Connection& connection);
  void StartOn(Connection& connection, Job& job);
  void Idle(Connection& connection);
  // A domain waiting for a slot to `connection`'s host, from its source.
  Domain* DomainWaitingFor(const Connection& connection);
  void HandOver(Connection& connection, Domain& taker);
  void Quit(Connection& connection);
  bool PlaintextOnly(const std::string& host) const;
  static std::string NameOf(const Domain& domain, const std::string& host);
  // Outcomes (delivery_scheduler_outcomes.cc).
  void Complete(Job& job, std::vector<AttemptReply> replies, const std::string& host, const TlsReport& tls);
  void BounceOrWrite(Job& job, std::unique_ptr<Batch> batch);
  void KeepBouncesDeferred(Batch& batch);
  void WriteBatch(std::unique_ptr<Batch> batch);
  void FinishBatch(Batch& batch);
  void FinishJob(Job& job);
  bool ShouldCompact(const Job& job) const;
  // Operator commands (delivery_scheduler_admin.cc).
  bool Matches(const Job& job, const JobFilter& filter, absl::Time now) const;
  JobView ViewOf(const Job& job) const;
  void RunCommand(Job& job, AdminCommand command, const std::string& reason);
  void WriteOperatorRecords(Job& job, Outcome outcome, const std::string& text);
  bool Suspended(const Domain& domain) const;
  absl::Time SuspendedUntil(const Domain& domain) const;
  // Shaping (delivery_scheduler_shaping.cc).
  void Shape(Domain& domain);
  void Detach(Domain& domain);
  // When the domain may start its next message, or open a connection (now_ if now).
  absl::Time MessageAt(Domain& domain);
  absl::Time ConnectionAt(Domain& domain);
  void TookMessage(Domain& domain);
  bool MayOpen(const Domain& domain) const;
  // More connections work (and are not ending) than the domain's or its site's limit
  // now allows (a rule lowered it, or a shared limit fell back to this node's share).
  bool OverConnectionLimit(const Domain& domain) const;
  uint32_t DomainConnectionLimit(const Domain& domain) const;
  uint32_t DeliveriesPerConnection(const Domain& domain) const;
  const RetrySchedule& RetryOf(const Domain& domain) const;
  // Arms the domain's timer for `at` unless it fires sooner already.
  void WakeAt(Domain& domain, absl::Time at);
  // Shared rates (delivery_scheduler_shared.cc). Points `*slot` (a domain's or a site
  // share's) at the shared limit of `scope` at `rate`, or with no rate at none (the
  // one it held is let go).
  void HoldShared(SharedRate*& slot, const std::string& scope, const std::optional<Rate>& rate);
  // The budget's message rate, or connection limit, is the cluster's (shared = true,
  // with --redis); a node's share of a cluster's limit while Redis is away.
  bool SharedInCluster(const ShapeSettings& budget) const;
  bool SharedLimitInCluster(const ShapeSettings& budget) const;
  uint32_t NodeShare(uint32_t limit) const;
  // When the domain's shared limits let its next message go (now_ with a token held;
  // asks for tokens when none are).
  absl::Time SharedAt(Domain& domain);
  void TookShared(SharedRate* shared);
  void AskTokens(SharedRate& shared);
  void ReturnUnused(SharedRate& shared, uint32_t count);
  void SweepShared();
  // Shared connection limits: `*slot` at `scope`'s leases with `limit` (none: let go).
  void HoldLeases(SharedLeases*& slot, const std::string& scope, const std::optional<uint32_t>& limit);
  void ForgetIfIdle(SharedLeases& leases);
  // A free lease of each of the domain's shared connection limits, or asks for one
  // (false: wait for the answer, or for the retry time, which wakes the domain).
  bool LeasesReady(Domain& domain);
  // The new connection takes those leases; a closed one frees them.
  void TakeLeases(Domain& domain, Connection& connection);
  void FreeLeases(Connection& connection);
  bool HoldsLeases(const Domain& domain) const;
  // The reply-driven rules over one attempt's replies: counts matches, acts, and
  // rewrites the replies a "temporary" rule makes 4xx.
  void Automate(Domain& domain, std::vector<AttemptReply>& replies);
  void Act(const AutomationRule& rule, Domain& domain, const AttemptReply& reply);
  // A suspend, set_rate or set_connection_limit on this shard's share of a site (rates
  // and limits shared out like the site's own).
  void ActOnSite(Site& site, const AutomationRule& rule, absl::Time until, const std::string& reason);
  // What a rule acts on: the site share or destination queue that got the reply, or
  // with `every_source` the shares or queues of the same site or domain from every
  // egress source.
  std::vector<Site*> SharesOf(Site& site, bool every_source);
  std::vector<Domain*> QueuesOf(Domain& domain, bool every_source);
  // The site a rule's count and action are kept by, or null for the domain itself.
  static Site* SiteActedOn(const AutomationRule& rule, const Domain& domain);
  // A bounce rule's action on a site's share: each of its domains' queues from that
  // share's source.
  void BounceSiteShare(const Site& share, const std::string& reason);
  void BounceForAutomation();
  bool SiteIdle(const Site& site) const;
  // Events end here: domains left with nothing are forgotten.
  void EndEvent();
  double UnitRandom();
  // A failed attempt's class (counted): by the reply's own status, or for no reply at
  // all "4.4.1" (never the "5.4.7" an expiry is reported with).
  const char* ClassifyFailure(const AttemptReply& reply);

  static void OnDomainTimer(void* context);
  static void OnIdleTimer(void* context);

  const SchedulerConfig config_;
  absl::Time now_;
  // Timers in wall-clock nanoseconds: the wheel for short ones (domains' rests,
  // connections' idle timeouts), a heap for jobs' next attempts, which lie minutes to
  // days ahead and may number millions (in the wheel, every occupied slot would wake
  // the shard each lap).
  core::TimerWheel wheel_;
  struct JobWake {
    absl::Time at;
    JobId job = 0;
    uint64_t wake = 0;  // the job's wake counter when this was pushed
    bool operator>(const JobWake& other) const { return at > other.at; }
  };
  std::priority_queue<JobWake, std::vector<JobWake>, std::greater<JobWake>> job_wakes_;
  void WakeDueJobs();
  std::mt19937_64 random_;
  absl::btree_map<JobId, std::unique_ptr<Job>> jobs_;  // in arrival order: listings page through it
  // A message's jobs here (one per domain), for commands and views by queue id; the keys
  // view their StoredMessage's queue id.
  absl::flat_hash_map<absl::string_view, absl::InlinedVector<JobId, 1>> by_queue_id_;
  void Index(const Job& job);
  void Unindex(const Job& job);
  // The jobs `filter` may match, in id order, after `after`: those of its queue id when
  // it names one (no scan), else null (every job is a candidate).
  const absl::InlinedVector<JobId, 1>* Candidates(const JobFilter& filter) const;
  absl::flat_hash_map<std::string, std::unique_ptr<Domain>> domains_;  // by QueueKey
  SourcePicker sources_;
  std::shared_ptr<const ShapingPolicy> shaping_;
  std::shared_ptr<const BounceRules> bounce_rules_;
  absl::flat_hash_map<std::string, std::unique_ptr<Site>> sites_;  // share of each, by QueueKey(site, source)
  // Domains a rule's "bounce" action emptied, with its reason (run at the event's end).
  struct AutomationBounce {
    std::string domain;
    std::optional<std::string> source;  // unset: the domain's jobs from every source
    std::string reason;
  };
  std::vector<AutomationBounce> automation_bounces_;
  bool sites_may_be_idle_ = false;  // a domain left its site: forget idle sites
  // Shared rates, by Redis key; whether Redis keeps them now (else the fallback shares).
  absl::flat_hash_map<std::string, std::unique_ptr<SharedRate>> shared_rates_;
  absl::flat_hash_map<std::string, std::unique_ptr<SharedLeases>> shared_leases_;  // by Redis key
  uint64_t next_lease_ = 1;
  bool cluster_up_ = false;
  absl::Time shared_sweep_at_ = absl::InfinitePast();
  absl::Time sites_recheck_at_ = absl::InfiniteFuture();  // when a kept domainless site may be idle
  absl::flat_hash_map<ConnectionId, std::unique_ptr<Connection>> connections_;
  absl::flat_hash_map<BatchId, std::unique_ptr<Batch>> batches_;  // waiting for the driver
  absl::flat_hash_map<std::string, uint32_t> host_connections_;    // per next-hop address
  absl::flat_hash_map<std::string, absl::Time> plaintext_until_;   // host → TLS handshake failed
  std::deque<std::string> waiting_for_host_;                       // domains held back by a host limit
  std::vector<Connection*> idle_;                                  // connections waiting for work
  std::vector<std::string> maybe_empty_;                           // domains to forget if idle
  std::vector<DeliveryAction> actions_;
  JobId next_job_ = 1;
  ConnectionId next_connection_ = 1;
  BatchId next_batch_ = 1;
  bool stopping_ = false;
  Stats stats_;
};

}  // namespace ringpost::queue
