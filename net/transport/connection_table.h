// The connections and listeners of one shard, and the io_uring mechanics under them:
// multishot accept, multishot recv into the provided buffer ring, one sendmsg in
// flight per socket, outbound connect, cancel-then-free.
//
// Owned by one shard; not thread-safe. Slots are allocated up front
// (`connections_max`), so accepting never allocates a slot; a connection past the
// limit is handed to Service::RejectOverLimit and closed. Back-pressure: a recv that
// ends with -ENOBUFS (the ring is empty) or a connection at its loan cap pauses, and a
// turn hook re-arms it once buffers come back — no byte is lost or duplicated.
//
// Stop: accepts are cancelled, the listen backlog is drained (those connections are
// adopted and shut down like the rest), listeners closed, every session gets
// OnShutdown, and at the grace deadline the remaining connections are closed.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/shard.h"
#include "net/transport/connection.h"

namespace ringpost::net {

// Makes sessions for accepted connections. One per shard.
class Service {
 public:
  virtual ~Service() = default;
  virtual std::unique_ptr<Session> NewSession(Connection& connection) = 0;
  // The table is full: say so on `fd` (best effort, non-blocking) before it closes.
  virtual void RejectOverLimit(int fd) { (void)fd; }
};

struct ConnectionTableOptions {
  uint32_t connections_max = 10000;        // per shard, inbound and outbound
  uint32_t loans_per_connection_max = 32;  // receive buffers one connection may hold
};

struct ConnectionStats {
  uint64_t accepted_total = 0;
  uint64_t connected_total = 0;
  uint64_t closed_total = 0;
  uint64_t rejected_over_limit_total = 0;
  uint64_t enobufs_total = 0;          // recv stopped because the buffer ring was empty
  uint64_t loan_cap_pauses_total = 0;  // recv paused at a connection's loan cap
  uint64_t bytes_received_total = 0;
  uint64_t bytes_sent_total = 0;
  uint32_t live = 0;
  uint32_t live_peak = 0;
};

class ConnectionTable final : public core::CompletionSink {
 public:
  ConnectionTable(core::Shard& shard, Service& service, const ConnectionTableOptions& options);
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;
  ~ConnectionTable();

  // Takes ownership of a bound, listening socket and starts accepting on it. Its
  // connections get sessions from `service` when given (another protocol on this
  // shard, such as the metrics endpoint), else from the table's.
  void AddListener(int fd, Service* service = nullptr);
  // Starts an outbound connection; the session hears OnOpen or OnConnectFailed.
  // Returns null (and drops `session`) when no slot is free.
  // With `source`, the socket binds that local address first (an egress source); when
  // it cannot, `*bind_error` says why before the session is destroyed (a failure of
  // the source, not a shortage of ours).
  Connection* Connect(const core::SocketAddress& address, std::unique_ptr<Session> session,
                      const core::SocketAddress* source = nullptr, std::string* bind_error = nullptr);

  const ConnectionStats& stats() const { return stats_; }
  core::Shard& shard() { return shard_; }

  void OnCompletion(const core::Completion& completion) override;

 private:
  friend class Connection;
  struct Listener {
    int fd = -1;
    bool accept_armed = false;
    core::TimerNode retry_timer;
    ConnectionTable* table = nullptr;
    Service* service = nullptr;  // null: the table's
  };

  Connection* Allocate();
  Connection& ConnectionFor(const core::OpTag& tag);
  void Adopt(int fd, bool inbound, Service* service = nullptr);
  void ArmAccept(uint32_t listener_index);
  void ArmRecv(Connection& c);
  void SubmitSend(Connection& c);
  void RequestClose(Connection& c);
  void ScheduleFlush(Connection& c);
  void MaybeFinish(Connection& c);
  void Finish(Connection& c);
  void PauseRecvAtCap(Connection& c);
  void AddToPauseList(Connection& c);

  void OnAccept(const core::Completion& completion, uint32_t listener_index);
  void OnRecv(Connection& c, const core::Completion& completion);
  void OnSend(Connection& c, const core::Completion& completion);
  void OnConnect(Connection& c, const core::Completion& completion);
  void OnTurn();
  void OnStop(core::MonoNanos deadline);
  void CloseListenerAfterDrain(Listener& listener);
  static void OnListenerRetry(void* context);
  static void OnGraceDeadline(void* context);
  static void FinishAfterTurn(void* context, uint64_t slot_and_generation);

  core::Shard& shard_;
  Service& service_;
  const ConnectionTableOptions options_;
  std::vector<std::unique_ptr<Connection>> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  struct SlotRef {
    uint32_t slot;
    uint32_t generation;
  };
  Connection* Resolve(SlotRef ref);
  std::vector<SlotRef> pause_list_;   // recv stopped: waiting for buffers or under the loan cap
  std::vector<SlotRef> flush_list_;   // output queued this turn; one sendmsg each at turn end
  std::vector<SlotRef> scratch_;
  ConnectionStats stats_;
  bool stopping_ = false;
  bool destroying_ = false;
  core::MonoNanos stop_deadline_ = 0;
  core::TimerNode grace_timer_;
};

}  // namespace ringpost::net
