#include "queue/spool.h"

#include <utility>

#include "core/check.h"

namespace ringpost::queue {

// What a commit keeps until it is durable: the message as delivery will see it, and the
// recipients to split it by.
struct Spool::PendingCommit {
  std::shared_ptr<StoredMessage> message;
  std::vector<Recipient> recipients;
  CommitDone done;
};

// One message's results on their way to its home log and back. `done` runs only on
// the shard that sent them (the home moves it into the answer).
struct Spool::ResultsAway {
  std::vector<DeliveryResult> results;
  int from = 0;
  uint64_t number = 0;  // the sender's count (Spool::results_away_)
  absl::Status status;
  DurableCallback done;
};

Spool::Spool(core::Shard& shard, LogWriter& log, QueueIdGenerator& ids, core::Sharded<Spool>& spools)
    : shard_(shard), log_(log), ids_(ids), spools_(spools), outbox_(shard) {
  spools_.Register(shard_, this);
}

Spool::~Spool() { spools_.Unregister(shard_); }

std::string Spool::NextQueueId(absl::Time now) {
  return ids_.Next(static_cast<uint64_t>(absl::ToUnixSeconds(now)));
}

void Spool::Commit(uint64_t message, Envelope envelope, CommitDone done) {
  RP_CHECK(!envelope.queue_id.empty());
  auto pending = std::make_shared<PendingCommit>();
  log_.Commit(message, &envelope, [this, pending](const absl::Status& status, const MessageLocation& location) {
    pending->done(status);
    if (!status.ok()) return;
    ++stats_.messages_committed;
    StoredMessage& stored = *pending->message;
    stored.home_shard = shard_.id();
    stored.segment = location.segment;
    stored.segment_path = log_.SegmentPath(location.segment);
    stored.commit_offset = location.commit_offset;
    stored.committed_this_run = true;
    Schedule(pending->message, pending->recipients);
  });
  // The writer encoded the envelope and filled in where its body is; its callback runs
  // later (never inside Commit), so these are in place before it does.
  pending->message = StoredMessageOf(envelope);
  pending->recipients = std::move(envelope.recipients);
  pending->done = std::move(done);
}

void Spool::ScheduleRecovered(const Envelope& envelope, uint32_t segment, const std::string& segment_path,
                              uint64_t commit_offset, bool reclaim,
                              std::vector<std::pair<int, uint32_t>> result_pins) {
  std::shared_ptr<StoredMessage> message = StoredMessageOf(envelope);
  message->result_pins = std::move(result_pins);
  message->home_shard = shard_.id();
  message->segment = segment;
  message->segment_path = segment_path;
  message->commit_offset = commit_offset;
  message->reclaim = reclaim;
  Schedule(message, envelope.recipients);
}

void Spool::Schedule(const std::shared_ptr<StoredMessage>& message, const std::vector<Recipient>& recipients) {
  if (delivery_ == nullptr) return;  // accept-only: the message stays queued
  std::vector<std::unique_ptr<DeliveryJob>> jobs = SplitByDomain(message, recipients);
  if (jobs.empty()) return LetGo(*message);  // every recipient was final already (recovered)
  for (std::unique_ptr<DeliveryJob>& job : jobs) {
    const int target = DomainShard(job->domain, shard_.shard_count());
    if (target == shard_.id()) {
      delivery_->AcceptJob(std::move(job));
      continue;
    }
    ++stats_.jobs_posted;
    outbox_.Send(target, spools_.Call<&Spool::ReceiveJob>(job.release(), 0, &Spool::DisposeJob));
  }
}

void Spool::WriteResults(int home_shard, std::vector<DeliveryResult> results, DurableCallback done) {
  RP_DCHECK(!results.empty());
  if (home_shard == shard_.id()) return AppendResults(results, std::move(done));
  // Held open until the home answers: a stop waits for it (core::Runtime ends every
  // loop together, so the home is still running). Unless every loop is already ending:
  // then they are not written, and a restart tries their recipients again.
  if (!shard_.HoldForPeer()) {
    auto* answer = new ResultsAway{
        {}, shard_.id(), 0, absl::UnavailableError("the home shard has stopped"), std::move(done)};
    shard_.RunAfterTurn({&Spool::AnswerUnheld, answer, 0});
    return;
  }
  const uint64_t number = ++results_sent_away_;
  results_away_.insert(number);
  auto* away = new ResultsAway{std::move(results), shard_.id(), number, absl::OkStatus(), std::move(done)};
  outbox_.Send(home_shard, spools_.Call<&Spool::ReceiveResults>(away, 0, &Spool::DisposeResults));
}

void Spool::AppendResults(const std::vector<DeliveryResult>& results, DurableCallback done) {
  struct Waiting {
    size_t left = 0;
    absl::Status status;
    DurableCallback done;
  };
  auto waiting = std::make_shared<Waiting>(Waiting{results.size(), absl::OkStatus(), std::move(done)});
  for (const DeliveryResult& result : results) {
    log_.AppendResult(result, [waiting](const absl::Status& status) {
      waiting->status.Update(status);
      if (--waiting->left == 0) waiting->done(waiting->status);
    });
  }
}

void Spool::ReceiveResults(void* pointer, uint64_t unused) {
  (void)unused;
  std::shared_ptr<ResultsAway> away(static_cast<ResultsAway*>(pointer));
  AppendResults(away->results, [this, away](const absl::Status& status) {
    // The answer travels in an envelope of its own; this one dies with the callback.
    auto* answer = new ResultsAway{{}, away->from, away->number, status, std::move(away->done)};
    outbox_.Send(answer->from,
                 spools_.Call<&Spool::ReceiveResultsDurable>(answer, 0, &Spool::DisposeResults));
  });
}

void Spool::ReceiveResultsDurable(void* pointer, uint64_t unused) {
  (void)unused;
  std::unique_ptr<ResultsAway> answer(static_cast<ResultsAway*>(pointer));
  shard_.Release();
  answer->done(answer->status);
  OnResultsAnswered(answer->number, answer->status);
}

void Spool::WhenResultsDurable(DurableCallback done) {
  if (results_away_.empty()) return log_.WhenDurable(std::move(done));
  results_waiters_.push_back({results_sent_away_, absl::OkStatus(), std::move(done)});
}

void Spool::OnResultsAnswered(uint64_t number, const absl::Status& status) {
  results_away_.erase(number);
  const uint64_t oldest_away = results_away_.empty() ? UINT64_MAX : *results_away_.begin();
  std::vector<ResultsWaiter> ready, waiting;
  for (ResultsWaiter& waiter : results_waiters_) {
    if (number <= waiter.last) waiter.status.Update(status);
    (waiter.last >= oldest_away ? waiting : ready).push_back(std::move(waiter));
  }
  results_waiters_ = std::move(waiting);
  for (ResultsWaiter& waiter : ready) {
    if (!waiter.status.ok()) {
      waiter.done(waiter.status);
    } else {
      log_.WhenDurable(std::move(waiter.done));
    }
  }
}

void Spool::AnswerUnheld(void* pointer, uint64_t unused) {
  (void)unused;
  std::unique_ptr<ResultsAway> answer(static_cast<ResultsAway*>(pointer));
  answer->done(answer->status);
}

void Spool::DisposeResults(void* pointer, uint64_t unused) {
  (void)unused;
  delete static_cast<ResultsAway*>(pointer);
}

void Spool::ReceiveJob(void* pointer, uint64_t unused) {
  (void)unused;
  std::unique_ptr<DeliveryJob> job(static_cast<DeliveryJob*>(pointer));
  RP_CHECK_EQ(DomainShard(job->domain, shard_.shard_count()), shard_.id());
  // The home shard only posts when it has delivery, and every shard has the same.
  if (delivery_ != nullptr) delivery_->AcceptJob(std::move(job));
}

void Spool::DisposeJob(void* pointer, uint64_t unused) {
  (void)unused;
  delete static_cast<DeliveryJob*>(pointer);
}

void Spool::JobFinished(const std::shared_ptr<StoredMessage>& message) {
  if (message->unfinished.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  ++stats_.messages_finished;
  LetGo(*message);
}

void Spool::LetGo(const StoredMessage& message) {
  if (message.reclaim) Unpin(message.home_shard, message.segment);
  for (const auto& [shard, segment] : message.result_pins) Unpin(shard, segment);
}

void Spool::Unpin(int shard, uint32_t segment) {
  if (shard == shard_.id()) return log_.MessageFinished(segment);
  outbox_.Send(shard, spools_.Call<&Spool::ReceiveFinished>(nullptr, segment));
}

void Spool::ReceiveFinished(void* unused, uint64_t segment) {
  (void)unused;
  log_.MessageFinished(static_cast<uint32_t>(segment));
}

}  // namespace ringpost::queue
