// DeliveryAgent, second half: what an attempt's replies mean (outcomes, accounting
// lines, DSNs) and how they reach the log before a job is rescheduled or finished.
// The first half (net/delivery_agent.cc) hands jobs around and runs the pools; the
// state both use is in net/delivery_agent_parts.h.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/log.h"
#include "net/delivery_agent.h"
#include "net/delivery_agent_parts.h"
#include "queue/bounce.h"
#include "queue/log_compaction.h"

namespace ringpost::net {

void DeliveryAgent::Complete(Job* job, const std::vector<queue::AttemptReply>& replies,
                             const std::string& host, const TlsSummary* tls) {
  RP_CHECK_EQ(replies.size(), job->attempt.size());
  const absl::Time now = absl::Now();
  const absl::Time arrival = absl::FromUnixMicros(static_cast<int64_t>(job->work->arrival_unix_micros));
  const bool some_accepted = std::any_of(replies.begin(), replies.end(),
                                         [](const queue::AttemptReply& r) { return r.code / 100 == 2; });
  auto batch = std::make_shared<Batch>();
  const std::string tls_text = tls != nullptr ? tls->Description() : "none";
  std::string lines;
  for (size_t i = 0; i < replies.size(); ++i) {
    const queue::AttemptReply& reply = replies[i];
    const queue::JobRecipient& r = job->work->recipients[job->attempt[i]];
    queue::AccountingEntry entry;
    entry.time = now;
    entry.queue_id = job->work->queue_id;
    entry.from = job->work->mail_from;
    entry.rcpt = r.address;
    entry.domain = job->work->domain;
    entry.host = host;
    entry.code = reply.code;
    entry.text = reply.text;
    entry.tls = tls_text;
    entry.tls_verified = tls != nullptr && tls->peer_verified;
    if (reply.code == 452 && some_accepted) {
      // Too many recipients for this transaction (RFC 5321 §4.5.3.1.10): the rest go
      // in a new one at once, not as a failed attempt.
      batch->again_now.push_back(r.index);
      entry.result = "deferred";
      entry.status = reply.enhanced;
      entry.attempt = r.attempts + 1;
      if (accounting_.enabled()) queue::AppendAccountingLine(entry, &lines);
      continue;
    }
    queue::RecipientOutcome outcome =
        queue::DecideOutcome(config_.retry, reply, arrival, now, r.attempts, UnitRandom());
    switch (outcome.outcome) {
      case queue::Outcome::kDelivered:
        ++stats_.delivered;
        break;
      case queue::Outcome::kDeferred:
        ++stats_.deferred;
        break;
      case queue::Outcome::kBounced:
        ++stats_.bounced;
        break;
      case queue::Outcome::kExpired:
        ++stats_.expired;
        break;
      case queue::Outcome::kRelocated:  // compaction's, never an attempt's
        break;
    }
    entry.result = queue::OutcomeName(outcome.outcome);
    entry.status = outcome.status;
    entry.attempt = outcome.attempt;
    if (accounting_.enabled()) queue::AppendAccountingLine(entry, &lines);
    RP_LOG(kDebug) << entry.result << " id=" << job->work->queue_id << " rcpt=<" << r.address
                   << "> host=" << host << " code=" << reply.code << " " << reply.text;

    queue::DeliveryResult result;
    result.queue_id = job->work->queue_id;
    result.recipient_index = r.index;
    result.outcome = outcome.outcome;
    result.attempt = outcome.attempt;
    if (outcome.outcome == queue::Outcome::kDeferred) {
      result.next_attempt_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(outcome.next_attempt));
    }
    result.code = static_cast<uint16_t>(reply.code);
    result.text = reply.text.substr(0, 512);
    batch->results.push_back(std::move(result));
    if (outcome.bounces()) {
      queue::BouncedRecipient failed;
      failed.address = r.address;
      failed.status = outcome.status;
      if (reply.code != 0) {
        failed.diagnostic =
            absl::StrCat(reply.code, reply.enhanced.empty() ? "" : " ", reply.enhanced, " ", reply.text);
      }
      failed.reason = outcome.outcome == queue::Outcome::kExpired
                          ? absl::StrCat("delivery time expired; last error: ", reply.text)
                          : (reply.code != 0 && !host.empty() && host != "maildir"
                                 ? absl::StrCat("the server ", host, " refused it")
                                 : reply.text);
      batch->bounced.push_back(std::move(failed));
      batch->bounced_indexes.push_back(r.index);
    }
    batch->outcomes.emplace_back(r.index, std::move(outcome));
  }
  accounting_.Write(lines);

  if (batch->bounced.empty()) {
    DropBody(job);
    return WriteResults(job, batch);
  }
  if (job->work->mail_from.empty()) {
    // RFC 5321 §6.1 / RFC 3464 §2: never a DSN for a message from the null sender.
    ++stats_.dsns_suppressed;
    RP_LOG(kInfo) << "bounce dropped: id=" << job->work->queue_id
                  << " from=<> failed_recipients=" << batch->bounced.size() << " (null sender)";
    DropBody(job);
    return WriteResults(job, batch);
  }
  QueueBounce(job, batch);
}

void DeliveryAgent::QueueBounce(Job* job, const std::shared_ptr<Batch>& batch) {
  if (job->body.empty()) {  // outcomes decided without loading it (no route, no connection)
    std::string error;
    if (!LoadBody(job, &error)) {
      RP_LOG(kWarning) << "bounce without the original's headers: " << error;
    }
  }
  const absl::Time now = absl::Now();
  queue::BounceInput input;
  input.reporting_mta = config_.hostname;
  input.original_sender = job->work->mail_from;
  input.queue_id = job->work->queue_id;
  input.arrival = absl::FromUnixMicros(static_cast<int64_t>(job->work->arrival_unix_micros));
  input.now = now;
  input.failed = batch->bounced;
  input.original = job->body;
  input.sequence = ++dsn_sequence_;
  absl::StatusOr<std::string> dsn = queue::BuildBounce(input);
  DropBody(job);

  // The DSN is durable before the results that say "bounced": a crash in between sends
  // it twice rather than never.
  absl::StatusOr<uint64_t> message = dsn.ok() ? log_.BeginMessage() : dsn.status();
  absl::Status appended = message.ok() ? log_.AppendBody(*message, *dsn) : message.status();
  if (!appended.ok()) {
    if (message.ok()) log_.Abort(*message);
    RP_LOG(kWarning) << "bounce for id=" << job->work->queue_id << " not queued (" << appended
                     << "); its recipients are tried again later";
    KeepBouncesDeferred(*batch);
    return WriteResults(job, batch);
  }
  queue::Envelope envelope;
  envelope.queue_id = ids_.Next(static_cast<uint64_t>(absl::ToUnixSeconds(now)));
  envelope.arrival_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(now));
  envelope.helo = config_.hostname;
  envelope.protocol = "LOCAL";
  envelope.mail_from = "";
  envelope.recipients.push_back(queue::Recipient{job->work->mail_from, "", false, 0, 0});
  queue::Envelope copy = envelope;
  log_.Commit(*message, std::move(envelope),
              [alive = alive_, job, batch, copy = std::move(copy)](const absl::Status& status,
                                                                   const queue::MessageLocation& location) {
                if (*alive == nullptr) return;
                DeliveryAgent& agent = **alive;
                if (!status.ok()) {
                  RP_LOG(kWarning) << "bounce for id=" << job->work->queue_id << " not durable (" << status
                                   << "); its recipients are tried again later";
                  agent.KeepBouncesDeferred(*batch);
                  return agent.WriteResults(job, batch);
                }
                ++agent.stats_.dsns_queued;
                RP_LOG(kInfo) << "bounce queued: id=" << copy.queue_id << " for id=" << job->work->queue_id
                              << " to=<" << job->work->mail_from
                              << "> failed_recipients=" << batch->bounced.size();
                queue::QueuedMessage queued;
                queued.envelope = copy;
                queued.segment = location.segment;
                queued.segment_path = agent.log_.SegmentPath(location.segment);
                queued.commit_offset = location.commit_offset;
                queued.home_shard = agent.shard_.id();
                agent.Submit(queued);
                agent.WriteResults(job, batch);
              });
}

void DeliveryAgent::KeepBouncesDeferred(Batch& batch) {
  // No DSN could be queued: the failed recipients get no record and are tried again
  // after the initial delay (their attempt count unchanged), so the bounce comes later.
  for (auto& [index, outcome] : batch.outcomes) {
    if (!outcome.bounces()) continue;
    outcome.outcome = queue::Outcome::kDeferred;
    outcome.next_attempt = absl::Now() + config_.retry.initial;
    outcome.attempt -= 1;
  }
  batch.results.erase(std::remove_if(batch.results.begin(), batch.results.end(),
                                     [](const queue::DeliveryResult& r) {
                                       return r.outcome == queue::Outcome::kBounced ||
                                              r.outcome == queue::Outcome::kExpired;
                                     }),
                      batch.results.end());
}

void DeliveryAgent::WriteResults(Job* job, const std::shared_ptr<Batch>& batch) {
  if (batch->results.empty()) return FinishBatch(job, *batch);
  batch->pending = batch->results.size();
  for (const queue::DeliveryResult& result : batch->results) {
    log_.AppendResult(result, [alive = alive_, job, batch](const absl::Status& status) {
      if (*alive == nullptr) return;
      if (!status.ok()) {
        // The outcome stands in memory; after a restart the recipient is tried again.
        RP_LOG(kWarning) << "delivery result for id=" << job->work->queue_id << " not durable: " << status;
      }
      if (--batch->pending == 0) (*alive)->FinishBatch(job, *batch);
    });
  }
}

void DeliveryAgent::FinishBatch(Job* job, const Batch& batch) {
  std::vector<queue::JobRecipient>& recipients = job->work->recipients;
  auto find = [&](uint32_t index) {
    return std::find_if(recipients.begin(), recipients.end(),
                        [&](const queue::JobRecipient& r) { return r.index == index; });
  };
  for (const auto& [index, outcome] : batch.outcomes) {
    auto it = find(index);
    if (it == recipients.end()) continue;
    if (outcome.outcome != queue::Outcome::kDeferred) {
      recipients.erase(it);
      continue;
    }
    it->attempts = outcome.attempt;
    it->next_attempt_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(outcome.next_attempt));
  }
  for (uint32_t index : batch.again_now) {
    if (auto it = find(index); it != recipients.end()) it->next_attempt_unix_micros = 0;
  }
  if (recipients.empty()) return FinishJob(job);
  if (ShouldCompact(job)) return Compact(job);
  Schedule(job);
}

// ---- Compaction ----------------------------------------------------------------------
// A long-deferred job would pin its message's segment (on its home shard) for days.
// Instead its recipients are copied, with their delivery state, into a new message in
// this shard's head segment; once that copy is durable, "relocated" results finish
// them in the old message (a crash in between gives both copies: a duplicate, never a
// loss), and the job goes on as the new message.

bool DeliveryAgent::ShouldCompact(const Job* job) const {
  return config_.compaction_age_nanos > 0 && !stopping_ &&
         shard_.now() - job->written_at >= config_.compaction_age_nanos;
}

// The job stays unscheduled (neither due nor on a timer) until the copy is done.
void DeliveryAgent::Compact(Job* job) {
  std::vector<queue::RecipientPick> picks;
  for (const queue::JobRecipient& r : job->work->recipients) {
    picks.push_back({r.index, r.attempts, r.next_attempt_unix_micros});
  }
  std::string queue_id = ids_.Next(static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())));
  queue::CopyMessage(
      log_, job->work->segment_path, job->work->commit_offset, queue_id, picks,
      [alive = alive_, job, queue_id](const absl::Status& status, const queue::MessageLocation& location) {
        if (*alive == nullptr) return;
        DeliveryAgent& agent = **alive;
        if (!status.ok()) {  // it stays where it is; tried again after its next attempt
          RP_LOG(kWarning) << "compaction of id=" << job->work->queue_id << " failed: " << status;
          job->written_at = agent.shard_.now();
          return agent.Schedule(job);
        }
        agent.FinishCompaction(job, queue_id, location);
      });
}

void DeliveryAgent::FinishCompaction(Job* job, std::string queue_id, const queue::MessageLocation& location) {
  queue::DeliveryJob& work = *job->work;
  auto pending = std::make_shared<size_t>(work.recipients.size());
  auto old_parts = work.parts;
  const std::string old_id = work.queue_id;
  const std::string old_path = work.segment_path;
  for (const queue::JobRecipient& r : work.recipients) {
    queue::DeliveryResult moved;
    moved.queue_id = old_id;
    moved.recipient_index = r.index;
    moved.outcome = queue::Outcome::kRelocated;
    moved.attempt = r.attempts;
    moved.text = absl::StrCat("relocated to ", queue_id);
    log_.AppendResult(moved, [alive = alive_, pending, old_parts](const absl::Status& status) {
      if (*alive == nullptr) return;
      if (!status.ok()) {
        RP_LOG(kWarning) << "relocation result not durable: " << status;
      }
      // The old message lets go of these recipients once that is written (a restart
      // before then delivers them from both copies).
      if (--*pending == 0) (*alive)->NoticeFinished(old_parts);
    });
  }
  // The job is the new message from now on.
  RP_LOG(kInfo) << "compacted id=" << old_id << " into id=" << queue_id
                << " rcpts=" << work.recipients.size();
  work.queue_id = std::move(queue_id);
  work.segment_path = log_.SegmentPath(location.segment);
  work.commit_offset = location.commit_offset;
  for (size_t i = 0; i < work.recipients.size(); ++i) work.recipients[i].index = static_cast<uint32_t>(i);
  auto parts = std::make_shared<queue::MessageParts>();
  parts->unfinished.store(1, std::memory_order_relaxed);
  parts->home_shard = shard_.id();
  parts->segment = location.segment;
  work.parts = std::move(parts);
  segment_files_.Acquire(work.segment_path);
  segment_files_.Release(old_path);
  ++stats_.jobs_compacted;
  job->written_at = shard_.now();
  Schedule(job);
}

void DeliveryAgent::FinishJob(Job* job) {
  Domain& domain = *job->domain;
  shard_.timers().Cancel(&job->timer);
  std::shared_ptr<queue::MessageParts> parts = job->work->parts;
  segment_files_.Release(job->work->segment_path);
  --domain.jobs;
  jobs_.erase(job->self);
  NoticeFinished(parts);
  maybe_empty_.push_back(domain.name);
}

}  // namespace ringpost::net
