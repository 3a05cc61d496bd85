// Live queue control across the shards (net/admin/queue_control.h): each shard has an
// AdminAgent beside its delivery driver; shard 0's serves the admin sessions. A
// question goes to every shard that can hold part of the answer (a domain's only to its
// home shard, DomainShard), each shard answers from its own scheduler on its own
// thread, and shard 0 merges the parts. Nothing is shared: a part is written by its
// shard only, and shard 0 reads it after the shard's "done" envelope arrived.
//
// Commands over many messages run on each shard in pages of kCommandPage jobs, one page
// per loop turn, and wait while the scheduler has many writes outstanding, so a bounce
// of a million messages holds little memory at once and never stalls the mail. A
// command answers once its records (and DSNs) are durable.
#pragma once

#include <memory>
#include <string>

#include "core/outbox.h"
#include "core/shard.h"
#include "core/sharded.h"
#include "net/admin/queue_control.h"
#include "net/outbound/delivery_driver.h"
#include "queue/accounting_log.h"
#include "queue/log_writer.h"

namespace ringpost {

inline constexpr size_t kCommandPage = 1000;
inline constexpr size_t kCommandWritesMax = 512;  // a command pauses while more are outstanding

class AdminAgent final : public net::QueueControl {
 public:
  // A question to the shards: Run on each target (its own part; it calls PartDone when
  // that part is complete, at once or later), Finish on shard 0 once all are done.
  struct Fanout {
    virtual ~Fanout() = default;
    virtual void Run(AdminAgent& agent, const std::shared_ptr<Fanout>& self) = 0;
    virtual void Finish() = 0;
    int left = 0;
  };

  AdminAgent(core::Shard& shard, core::Sharded<AdminAgent>& agents, net::DeliveryDriver& driver,
             queue::LogWriter& log, queue::AccountingWriter& accounting);
  ~AdminAgent() override;
  AdminAgent(const AdminAgent&) = delete;
  AdminAgent& operator=(const AdminAgent&) = delete;

  core::Shard& shard() { return shard_; }
  net::DeliveryDriver& driver() { return driver_; }
  queue::LogWriter& log() { return log_; }

  // On this shard: the part of `fanout` it ran is complete.
  void PartDone(const std::shared_ptr<Fanout>& fanout);

  // net::QueueControl, on shard 0.
  void Summary(size_t top, std::function<void(std::vector<queue::DomainSummary>)> done) override;
  void Suspensions(std::function<void(std::vector<queue::Suspension>)> done) override;
  void List(const queue::JobFilter& filter, std::vector<queue::JobId> cursor, size_t per_shard,
            std::function<void(Page)> done) override;
  void Show(const std::string& queue_id,
            std::function<void(std::vector<queue::JobView>, absl::StatusOr<queue::Envelope>)> done) override;
  void Body(const std::string& queue_id, std::function<void(absl::StatusOr<std::string>)> done) override;
  void Suspend(const std::string& domain, absl::Time until, const std::string& reason,
               std::function<void(absl::Status)> done) override;
  void Resume(const std::string& domain, std::function<void(bool, absl::Status)> done) override;
  void Flush(const queue::JobFilter& filter, std::function<void(Counts)> done) override;
  void Apply(queue::AdminCommand command, const queue::JobFilter& filter, const std::string& reason,
             std::function<void(Counts, absl::Status)> done) override;
  void Account(const std::string& lines) override { accounting_.Append(lines); }

 private:
  // Sends `fanout` to `target` (-1: every shard).
  void Start(std::shared_ptr<Fanout> fanout, int target);
  void RunHere(void* pointer, uint64_t argument);
  void DoneHere(void* pointer, uint64_t argument);
  static void Dispose(void* pointer, uint64_t argument);
  // The shard a domain's jobs live on, or -1 (every shard) without a domain.
  int Owner(const std::string& domain) const;

  core::Shard& shard_;
  core::Sharded<AdminAgent>& agents_;
  net::DeliveryDriver& driver_;
  queue::LogWriter& log_;
  queue::AccountingWriter& accounting_;
  core::Outbox outbox_;
};

}  // namespace ringpost
