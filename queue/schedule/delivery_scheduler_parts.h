// The delivery scheduler's state (private to queue/schedule/delivery_scheduler*.cc):
// jobs, destination domains with their pools, connections, and one attempt's outcomes
// on their way to the log.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "queue/schedule/delivery_scheduler.h"
#include "queue/schedule/throttle.h"

namespace ringpost::queue {

// The timer wheel counts wall-clock nanoseconds.
inline core::MonoNanos WheelTime(absl::Time t) { return absl::ToUnixNanos(t); }
// A time far away (recovered, corrupt, or a suspension without end) is clamped: the
// timer fires, finds nothing due, and sleeps again.
inline constexpr absl::Duration kLongestWait = absl::Hours(24 * 365);
// How often, at least, a domain without mail kept for what its throttle holds (or a
// suspension) is looked at again.
inline constexpr absl::Duration kThrottleRecheck = absl::Minutes(1);

struct DeliveryScheduler::Job {
  DeliveryScheduler* scheduler = nullptr;
  JobId id = 0;
  std::unique_ptr<DeliveryJob> work;
  Domain* domain = nullptr;
  uint64_t wake = 0;             // its entry in job_wakes_ (older entries are stale)
  std::vector<size_t> attempt;   // positions in work->recipients tried in this attempt
  absl::Time taken_at;           // when this shard took it over, or last copied it forward
  bool busy = false;             // in an attempt, writing its results, or being copied
  bool held = false;             // by an operator: not attempted until released
  std::optional<AdminCommand> pending;  // given while busy: run once the attempt is over
  std::string pending_reason;
  std::string last_reply;        // of its last attempt, for operators
  absl::Time arrival;            // the message's
  absl::Time attempt_started;    // of the attempt in progress
};

struct DeliveryScheduler::Domain {
  DeliveryScheduler* scheduler = nullptr;
  std::string name;    // the destination domain
  std::string source;  // the egress source its connections leave from; empty: the default
  std::string key;     // QueueKey(name, source): its key in domains_
  enum class Route { kUnknown, kResolving, kKnown } route = Route::kUnknown;
  NextHop hop;
  std::vector<std::string> hosts;  // hop.addresses as text (host_connections_' keys), made once per route
  absl::Time route_valid_until = absl::InfiniteFuture();
  std::deque<Job*> due;
  std::vector<Connection*> connections;  // owned by connections_
  uint32_t jobs = 0;             // owned jobs in any state
  uint32_t failures_in_row = 0;  // connections that never became ready
  uint32_t rests = 0;            // rests in a row (the breaker's backoff step)
  size_t next_address = 0;
  absl::Time resting_until = absl::InfinitePast();  // no new connection before this
  absl::Time suspended_until = absl::InfinitePast();  // an operator's (on the sourceless queue)
  std::string suspension_reason;
  absl::Time suspended_at;
  // For operators (Summary): kept as jobs change, so a summary costs O(domains).
  uint64_t recipients = 0;  // of its jobs, not final
  uint64_t deferred = 0;    // of those, tried at least once
  uint64_t held = 0;        // of those, in held jobs
  uint64_t in_flight = 0;   // in an attempt now
  absl::btree_set<std::pair<absl::Time, JobId>> arrivals;  // its jobs, oldest first
  std::string last_reply;
  bool waiting_for_host = false;                     // in waiting_for_host_
  // Shaping: its settings (the policy's over the flags), its own budget, and its site's
  // share on this shard when the route put it in one.
  ShapeSettings shape;
  RetrySchedule retry;  // the flags' with the shape's retry settings
  Throttle throttle;
  SharedRate* shared_rate = nullptr;      // its own rate, when the cluster keeps it
  SharedLeases* shared_leases = nullptr;  // its own connection limit, when the cluster keeps it
  Site* site = nullptr;
  core::TimerNode wake;                              // the rest's end, or a retry after a local failure
};

struct DeliveryScheduler::Connection {
  DeliveryScheduler* scheduler = nullptr;
  ConnectionId id = 0;
  Domain* domain = nullptr;
  std::string host;  // the next hop's address, "ip:port"
  std::string name;  // its host name (TLS server name), empty for an address route
  Job* in_flight = nullptr;
  uint32_t messages = 0;
  bool ready = false;       // can take a message now
  bool ever_ready = false;  // was greeted: the destination works
  bool quitting = false;    // QUIT sent, or about to be
  bool tls_failed = false;  // the STARTTLS handshake failed
  bool idle_listed = false; // in idle_
  core::TimerNode idle;
  // The cluster's leases it holds (shared connection limits of its domain and site).
  std::vector<std::pair<SharedLeases*, std::string>> leases;
};

// A site's share on this shard: its budget, kept for all its domains here.
struct DeliveryScheduler::Site {
  std::string name;  // "mx:*.google.com"
  std::string source;  // the egress source its budget is for
  Throttle throttle;
  SharedRate* shared_rate = nullptr;      // its rate, when the cluster keeps it
  SharedLeases* shared_leases = nullptr;  // its connection limit, when the cluster keeps it
  uint32_t connections = 0;  // of its domains
  uint32_t domains = 0;      // pointing at it
};

// One attempt's outcome for a job, kept until its records are written.
struct DeliveryScheduler::Batch {
  BatchId id = 0;
  Job* job = nullptr;
  std::vector<DeliveryResult> results;                          // records to write
  std::vector<ReportedRecipient> bounced;                        // for the DSN
  std::vector<std::pair<uint32_t, RecipientOutcome>> outcomes;  // by envelope index
  std::vector<uint32_t> again_now;  // 452 beside accepted recipients: a new transaction at once
};

}  // namespace ringpost::queue
