// The spool of one shard: the one way a message enters the queue and leaves it
// (commit → durable → schedule → done → reclaim), the same for every producer: inbound
// SMTP sessions, bounces, and the messages recovered at start-up.
//
//  - Commit: a message whose body was appended is committed to this shard's log
//    (queue/log_writer.h). Once it is durable the producer hears so (the SMTP session
//    then answers 250), and the message is scheduled: split by recipient domain
//    (queue/schedule/delivery_job.h), each domain's job posted to the spool of the
//    shard that owns the domain, whose delivery side (a JobSink) takes it. The body's
//    location travels with the jobs, known since the commit: nobody re-reads the
//    envelope to deliver it.
//  - Results: a delivering shard writes each delivery result in the message's home log
//    (WriteResults), whichever shard delivers it. A log deletes its segments oldest
//    first, so a result newer than its commit in the same log goes only after the commit
//    does; in another shard's log it could go first and bring the recipient back at a
//    restart.
//  - Done: a delivering shard reports each finished job; the last job of a message sends
//    the notice home, where the log lets the message's segment go (reclamation).
//
// Owned by one shard; not thread-safe. Cross-shard calls name their receiver through
// core::Sharded<Spool> (every shard's spool registers there) and never drop: a full
// handoff queue keeps them in an Outbox until they go.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/outbox.h"
#include "core/shard.h"
#include "core/sharded.h"
#include "queue/log_writer.h"
#include "queue/queue_id.h"
#include "queue/schedule/delivery_job.h"

namespace ringpost::queue {

// Delivery on a shard: takes the jobs for the domains this shard owns.
class JobSink {
 public:
  virtual ~JobSink() = default;
  virtual void AcceptJob(std::unique_ptr<DeliveryJob> job) = 0;
};

class Spool {
 public:
  // `spools` holds every shard's spool; this one registers itself there.
  Spool(core::Shard& shard, LogWriter& log, QueueIdGenerator& ids, core::Sharded<Spool>& spools);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Where this shard's jobs go. Without one (an accept-only server) messages are kept
  // in the queue but not scheduled.
  void set_delivery(JobSink* delivery) { delivery_ = delivery; }

  // ---- Producers ----
  // ResourceExhausted when the free-space reserve is reached (452 4.3.1).
  absl::StatusOr<uint64_t> BeginMessage() { return log_.BeginMessage(); }
  absl::Status AppendBody(uint64_t message, absl::string_view bytes) { return log_.AppendBody(message, bytes); }
  absl::Status AppendBodyParts(uint64_t message, absl::Span<const absl::string_view> pieces) {
    return log_.AppendBodyParts(message, pieces);
  }
  absl::Status PrependBody(uint64_t message, absl::string_view bytes) {
    return log_.PrependBody(message, bytes);
  }
  void Abort(uint64_t message) { log_.Abort(message); }
  std::string NextQueueId(absl::Time now);
  // Makes the message exist. `done` hears whether it is durable (never inside this
  // call); a durable message is then scheduled for delivery. `envelope.queue_id` is
  // the producer's (NextQueueId).
  using CommitDone = std::function<void(const absl::Status& status)>;
  void Commit(uint64_t message, Envelope envelope, CommitDone done);
  // A message found by recovery, with each recipient's state (final recipients are
  // not sent again). `reclaim`: its segment belongs to this shard, which deletes it
  // once every message in it is finished.
  // `result_pins`: other shards' segments (shard, number) holding its results, counted
  // live at their adoption; let go with the message.
  void ScheduleRecovered(const Envelope& envelope, uint32_t segment, const std::string& segment_path,
                         uint64_t commit_offset, bool reclaim,
                         std::vector<std::pair<int, uint32_t>> result_pins = {});

  // ---- Delivery ----
  // Writes `results` (one message's, non-empty) in the log of `home_shard`, the
  // message's home; `done` runs once on this shard when every write has ended, with the
  // first error if one failed (never inside the call).
  void WriteResults(int home_shard, std::vector<DeliveryResult> results, DurableCallback done);
  // `done` once every result this shard wrote so far, in any shard's log, is durable, and
  // everything appended to this shard's log so far (an error if one of them failed);
  // never inside the call. For replies that promise durability (an operator's hold).
  void WhenResultsDurable(DurableCallback done);
  // A job of `message` is finished (its final results are durable).
  void JobFinished(const std::shared_ptr<StoredMessage>& message);
  // Where this shard's copies live: for compaction's copies into this log.
  LogWriter& log() { return log_; }
  const LogWriter& log() const { return log_; }
  int shard_id() const { return shard_.id(); }

  struct Stats {
    uint64_t messages_committed = 0, jobs_posted = 0, messages_finished = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct PendingCommit;
  struct ResultsAway;
  void AppendResults(const std::vector<DeliveryResult>& results, DurableCallback done);
  void Schedule(const std::shared_ptr<StoredMessage>& message, const std::vector<Recipient>& recipients);
  void Deliver(std::unique_ptr<DeliveryJob> job);
  // The message is finished: the segments that kept it (and its results) let it go.
  void LetGo(const StoredMessage& message);
  void Unpin(int shard, uint32_t segment);
  // Handlers of cross-shard calls (core::Sharded).
  void ReceiveJob(void* job, uint64_t unused);
  void ReceiveFinished(void* unused, uint64_t segment);
  void ReceiveResults(void* results, uint64_t unused);
  void ReceiveResultsDurable(void* results, uint64_t unused);
  static void DisposeJob(void* job, uint64_t unused);
  static void DisposeResults(void* results, uint64_t unused);
  static void AnswerUnheld(void* results, uint64_t unused);

  core::Shard& shard_;
  LogWriter& log_;
  QueueIdGenerator& ids_;
  core::Sharded<Spool>& spools_;
  core::Outbox outbox_;
  JobSink* delivery_ = nullptr;
  // Results sent to other shards, numbered in order, until their answers come; and who
  // waits for them (WhenResultsDurable: every number up to `last`).
  uint64_t results_sent_away_ = 0;
  std::set<uint64_t> results_away_;
  struct ResultsWaiter {
    uint64_t last = 0;
    absl::Status status;
    DurableCallback done;
  };
  std::vector<ResultsWaiter> results_waiters_;
  void OnResultsAnswered(uint64_t number, const absl::Status& status);
  Stats stats_;
};

}  // namespace ringpost::queue
