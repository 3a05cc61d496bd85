// What the admin API asks of the running queue. The daemon implements it by fanning
// each question out to the shards that hold the answer and merging their parts
// (tools/admin_fanout.h); the admin sessions only speak HTTP. Every answer comes back
// later on the caller's shard, never inside the call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "queue/schedule/delivery_scheduler.h"

namespace ringpost::net {

class QueueControl {
 public:
  virtual ~QueueControl() = default;

  virtual void Summary(size_t top, std::function<void(std::vector<queue::DomainSummary>)> done) = 0;
  virtual void Suspensions(std::function<void(std::vector<queue::Suspension>)> done) = 0;

  // A listing, page by page: up to `per_shard` jobs from each shard after `cursor` (one
  // position per shard; empty at the start). `next` is where the following page starts;
  // `end` says the listing is over.
  struct Page {
    std::vector<queue::JobView> jobs;
    std::vector<queue::JobId> next;
    bool end = false;
  };
  virtual void List(const queue::JobFilter& filter, std::vector<queue::JobId> cursor, size_t per_shard,
                    std::function<void(Page)> done) = 0;
  // Every job of one message (none: it is not queued), with its envelope if readable.
  virtual void Show(const std::string& queue_id,
                    std::function<void(std::vector<queue::JobView>, absl::StatusOr<queue::Envelope>)> done) = 0;
  // Its stored body; NotFound when it is not queued.
  virtual void Body(const std::string& queue_id, std::function<void(absl::StatusOr<std::string>)> done) = 0;

  // Commands answer once what they wrote is durable.
  virtual void Suspend(const std::string& domain, absl::Time until, const std::string& reason,
                       std::function<void(absl::Status)> done) = 0;
  // `found`: the domain was suspended.
  virtual void Resume(const std::string& domain, std::function<void(bool found, absl::Status)> done) = 0;
  struct Counts {
    uint64_t jobs = 0;
    uint64_t recipients = 0;
  };
  virtual void Flush(const queue::JobFilter& filter, std::function<void(Counts)> done) = 0;
  virtual void Apply(queue::AdminCommand command, const queue::JobFilter& filter, const std::string& reason,
                     std::function<void(Counts, absl::Status)> done) = 0;

  // Accounting lines (the admin records), written by the caller's shard.
  virtual void Account(const std::string& lines) = 0;
};

}  // namespace ringpost::net
