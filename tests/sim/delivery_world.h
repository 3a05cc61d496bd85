// A deterministic simulation of delivery (STYLE.md, Testing; TigerBeetle's way): the
// real DeliveryScheduler against a simulated network, next hops, disk and restarts,
// all driven by one seeded generator and one simulated clock, so a seed replays the
// same run exactly.
//
// The world plays the driver's part: it carries out the scheduler's actions with
// random latencies and faults (refused connections, TLS handshakes that fail, DNS
// failures, 4xx and 5xx for some recipients, 452 for the tail of a transaction, drops
// before and after the final dot, servers that hang up, slow replies, result and DSN
// writes that fail, restarts that lose everything in flight) and keeps the ground
// truth: what the next hops accepted, and what the log holds durably.
//
// Invariants, checked after every step (Step) and at the end (Finish): a connection
// carries one transaction at a time and only once greeted; never more connections to
// a host than host_max_connections, nor transactions for a domain than
// domain_max_connections, nor messages on a connection than
// max_messages_per_connection; a recipient record gets at most one final result; a
// DSN is durable before the result that says its recipient bounced; no DSN for the
// null sender. Operators act at random times (suspend and resume domains, flush, hold
// and release, delete and bounce messages): no attempt starts for a suspended domain
// or a held message, a deleted recipient is never sent afterwards, standing orders and
// holds that were durable survive restarts, and the scheduler's summary agrees with
// its listing (and its index by queue id). At the end every recipient is delivered, bounced, expired or deleted,
// and one
// that reached a next hop twice had a reason to: a drop after the final dot (reported
// as a possible duplicate), or a restart that lost the record of its delivery.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "queue/schedule/delivery_scheduler.h"

namespace ringpost::sim {

struct WorldStats {
  uint64_t messages = 0, recipients = 0, dsns = 0, restarts = 0, transactions = 0, connections = 0;
  uint64_t delivered = 0, bounced = 0, expired = 0, duplicates = 0, steps = 0;
  uint64_t suspensions = 0, holds = 0, deletes = 0, operator_bounces = 0, flushes = 0;
};

class DeliveryWorld {
 public:
  explicit DeliveryWorld(uint64_t seed);
  ~DeliveryWorld();

  // Runs the whole scenario; returns the first broken invariant ("" when none).
  std::string Run();
  const WorldStats& stats() const { return stats_; }

 private:
  struct Domain;
  struct Host;
  struct Connection;
  struct Message;
  struct Recipient;

  // Scenario.
  void BuildDomains();
  void ScheduleArrivals();
  void StartScheduler();
  void Restart();
  // The event loop.
  void At(absl::Duration after, std::function<void()> event);
  // An event from outside the daemon (an arrival's client, an operator): a restart does
  // not lose it.
  void Outside(absl::Duration after, std::function<void()> event);
  static constexpr uint64_t kEveryEpoch = UINT64_MAX;
  bool Step();
  void RunActions();
  void Do(queue::ResolveRoute& a);
  void Do(queue::OpenConnection& a);
  void Do(queue::SendMessage& a);
  void Do(queue::DeliverLocally& a);
  void Do(queue::CloseConnection& a);
  void Do(queue::WriteResults& a);
  void Do(queue::WriteBounce& a);
  void Do(queue::CopyForward& a);
  void Do(queue::JobFinished& a);
  void Do(queue::AccountingLines& a);
  void Do(queue::WriteControl& a);
  void Do(queue::SiteActed& a);
  void Do(queue::TakeTokens& a);
  void Do(queue::ReturnTokens& a);
  void Do(queue::TakeLease& a);
  void Do(queue::RenewLeases& a);
  void Do(queue::ReleaseLeases& a);
  // Operators.
  void ScheduleOperators();
  void Operate();
  size_t ApplyPaged(queue::AdminCommand command, const queue::JobFilter& filter);
  void CheckAttemptAllowed(const std::string& domain, const std::string& queue_id,
                           const std::vector<std::string>& recipients);
  void CheckSummary();
  // Messages and the log.
  Message& NewMessage(const std::string& from, const std::vector<std::string>& rcpts, absl::Time arrival,
                      bool dsn);
  void Submit(Message& message);
  std::shared_ptr<queue::StoredMessage> Stored(Message& message);
  void ApplyDurable(const queue::DeliveryResult& result);
  void Transaction(Connection& c, const queue::SendMessage& send);
  void CloseSoon(uint64_t connection_id, const std::string& reason, absl::Duration after);
  // Invariants.
  void Fail(const std::string& what);
  void CheckLimits();
  void CheckEnd();

  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(random_); }
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(random_); }
  absl::Duration Latency(absl::Duration low, absl::Duration high);

  const uint64_t seed_;
  std::mt19937_64 random_;
  queue::SchedulerConfig config_;
  absl::Time now_;
  absl::Time arrivals_end_;
  std::unique_ptr<queue::DeliveryScheduler> scheduler_;
  uint64_t epoch_ = 0;  // bumped by a restart: events of an older epoch are lost
  struct Event {
    absl::Time at;
    uint64_t order = 0;
    uint64_t epoch = 0;
    std::function<void()> run;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.order > b.order;
    }
  };
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  uint64_t event_order_ = 0;
  std::vector<std::unique_ptr<Domain>> domains_;
  absl::flat_hash_map<std::string, Domain*> domain_by_name_;
  std::vector<std::unique_ptr<Host>> hosts_;
  absl::flat_hash_map<std::string, Host*> host_by_address_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Message>> messages_;
  absl::flat_hash_map<std::string, Message*> message_by_id_;
  std::vector<std::unique_ptr<Recipient>> recipients_;  // logical recipients (copies share one)
  absl::flat_hash_map<std::string, int> in_flight_by_domain_;
  absl::flat_hash_set<std::string> dsn_written_;  // "queue_id address" of every durable DSN
  absl::flat_hash_map<std::string, queue::ControlRecord> durable_orders_;  // newest per domain
  absl::flat_hash_map<std::string, absl::Time> suspended_;  // the operators' view (this run)
  std::vector<queue::DeliveryAction> running_;
  std::string failure_;
  WorldStats stats_;
  uint64_t ids_ = 0;
};

}  // namespace ringpost::sim
