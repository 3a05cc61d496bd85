// DeliveryScheduler, second half: what an attempt's replies mean (outcomes, accounting
// lines, bounces) and how they reach the log before a job is rescheduled, copied
// forward or finished. The first half (delivery_scheduler.cc) runs the pools.
#include <algorithm>
#include <optional>
#include <utility>

#include <optional>
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/log.h"
#include "queue/schedule/accounting_line.h"

#include "queue/schedule/delivery_scheduler.h"
#include "queue/schedule/delivery_scheduler_parts.h"

namespace ringpost::queue {
namespace {

constexpr size_t kResultTextBytesMax = 512;

AccountingType AccountingTypeOf(Outcome outcome) {
  switch (outcome) {
    case Outcome::kDelivered:
      return AccountingType::kDelivery;
    case Outcome::kBounced:
      return AccountingType::kBounce;
    case Outcome::kExpired:
      return AccountingType::kExpiration;
    default:
      return AccountingType::kTransient;
  }
}

std::string BounceReason(const AttemptReply& reply, const RecipientOutcome& outcome,
                         const std::string& host) {
  if (outcome.outcome == Outcome::kExpired) {
    return absl::StrCat("delivery time expired; last error: ", reply.text);
  }
  if (reply.code != 0 && !host.empty() && host != "maildir") {
    return absl::StrCat("the server ", host, " refused it");
  }
  return reply.text;
}

}  // namespace

void DeliveryScheduler::Complete(Job& job, std::vector<AttemptReply> replies, const std::string& host,
                                 const TlsReport& tls) {
  RP_CHECK_EQ(replies.size(), job.attempt.size());
  RP_CHECK(job.busy);
  Automate(*job.domain, replies);  // may make a 5xx temporary
  const StoredMessage& message = *job.work->message;
  const absl::Time arrival = absl::FromUnixMicros(static_cast<int64_t>(message.arrival_unix_micros));
  const bool some_accepted =
      std::any_of(replies.begin(), replies.end(), [](const AttemptReply& r) { return r.code / 100 == 2; });
  auto batch = std::make_unique<Batch>();
  batch->job = &job;
  job.domain->in_flight -= job.attempt.size();
  if (!host.empty()) {  // an attempt that went out (not a route's failure)
    stats_.delivery_latency.Observe(core::HistogramKind::kDeliveryLatency,
                                    absl::ToDoubleSeconds(now_ - job.attempt_started));
  }
  if (!replies.empty()) {
    job.last_reply =
        replies[0].code != 0 ? absl::StrCat(replies[0].code, " ", replies[0].text) : replies[0].text;
    job.domain->last_reply = job.last_reply;
  }
  AccountingLines accounting;
  for (size_t i = 0; i < replies.size(); ++i) {
    const AttemptReply& reply = replies[i];
    JobRecipient& r = job.work->recipients[job.attempt[i]];
    AccountingEntry entry;
    entry.time = now_;
    entry.arrival = arrival;
    entry.queue_id = message.queue_id;
    entry.from = message.mail_from;
    entry.rcpt = r.address;
    entry.domain = job.work->domain;
    entry.host = host;
    // A local delivery leaves from no address: no source, whatever its pool.
    entry.source = job.domain->hop.kind == NextHop::Kind::kLocal ? absl::string_view()
                                                                 : absl::string_view(job.domain->source);
    entry.code = reply.code;
    entry.text = reply.text;
    entry.tls = tls.description;
    entry.tls_verified = tls.verified;
    entry.possible_duplicate = reply.possible_duplicate;
    if (reply.possible_duplicate) {
      RP_LOG(kWarning) << "possible duplicate: id=" << message.queue_id << " rcpt=<" << r.address
                       << "> host=" << host << " (no reply after the final dot; deferred)";
    }
    if (reply.code == 452 && (reply.enhanced.empty() || reply.enhanced == "4.5.3") && some_accepted) {
      // Too many recipients for this transaction (RFC 5321 §4.5.3.1.10): the rest go
      // in a new one at once, not as a failed attempt. (Another 452, a full mailbox
      // "4.2.2" say, is an ordinary temporary failure.)
      batch->again_now.push_back(r.index);
      entry.type = AccountingType::kTransient;
      entry.next_attempt = now_;
      entry.status = reply.enhanced;
      entry.attempt = r.attempts + 1;
      entry.bounce_class = ClassifyFailure(reply);
      AppendAccountingLine(entry, &accounting.lines);
      RP_LOG(kInfo) << OutcomeLogText(entry) << " (too many recipients: a new transaction now)";
      continue;
    }
    RecipientOutcome outcome =
        DecideOutcome(job.domain->retry, reply, arrival, now_, r.attempts, UnitRandom());
    if (outcome.outcome != Outcome::kDeferred) {
      stats_.time_in_queue.Observe(core::HistogramKind::kTimeInQueue, absl::ToDoubleSeconds(now_ - arrival));
    }
    switch (outcome.outcome) {
      case Outcome::kDelivered:
        ++stats_.delivered;
        break;
      case Outcome::kDeferred:
        ++stats_.deferred;
        break;
      case Outcome::kBounced:
        ++stats_.bounced;
        break;
      case Outcome::kExpired:
        ++stats_.expired;
        break;
      case Outcome::kRelocated:  // compaction's and operators', never an attempt's
      case Outcome::kDeleted:
      case Outcome::kHeld:
      case Outcome::kReleased:
        break;
    }
    entry.type = AccountingTypeOf(outcome.outcome);
    if (outcome.outcome != Outcome::kDelivered) entry.bounce_class = ClassifyFailure(reply);
    if (outcome.outcome == Outcome::kDeferred) entry.next_attempt = outcome.next_attempt;
    entry.status = outcome.status;
    entry.attempt = outcome.attempt;
    AppendAccountingLine(entry, &accounting.lines);
    RP_LOG(kInfo) << OutcomeLogText(entry);

    DeliveryResult result;
    result.queue_id = message.queue_id;
    result.recipient_index = r.index;
    result.outcome = outcome.outcome;
    result.attempt = outcome.attempt;
    if (outcome.outcome == Outcome::kDeferred) {
      result.next_attempt_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(outcome.next_attempt));
    }
    result.code = static_cast<uint16_t>(reply.code);
    result.text = reply.text.substr(0, kResultTextBytesMax);
    batch->results.push_back(std::move(result));
    // RFC 3461 §4.1: which reports this recipient asked for (none with NOTIFY=NEVER).
    std::optional<DsnAction> report;
    if (outcome.bounces() && r.dsn.NotifiesFailure()) {
      report = DsnAction::kFailed;
    } else if (outcome.outcome == Outcome::kDelivered && r.dsn.NotifiesSuccess() &&
               reply.handoff != Handoff::kRelayedWithDsn) {  // such a next hop reports itself
      report = reply.handoff == Handoff::kDelivered ? DsnAction::kDelivered : DsnAction::kRelayed;
    } else if (outcome.outcome == Outcome::kDeferred && config_.delay_warning > absl::ZeroDuration() &&
               !r.delay_reported && r.dsn.NotifiesDelay() && now_ - arrival >= config_.delay_warning) {
      report = DsnAction::kDelayed;
      r.delay_reported = true;
    }
    if (report.has_value()) {
      ReportedRecipient reported;
      reported.address = r.address;
      reported.action = *report;
      reported.original_recipient = r.dsn.OriginalRecipient();
      reported.status = outcome.status;
      if (reported.status.empty())
        reported.status = outcome.outcome == Outcome::kDelivered ? "2.0.0" : "4.0.0";
      if (reply.code != 0) {
        reported.diagnostic =
            absl::StrCat(reply.code, reply.enhanced.empty() ? "" : " ", reply.enhanced, " ", reply.text);
      }
      if (*report == DsnAction::kFailed) reported.reason = BounceReason(reply, outcome, host);
      if (*report == DsnAction::kDelayed) {
        reported.reason = absl::StrCat(
            "not delivered after ", absl::FormatDuration(absl::Trunc(now_ - arrival, absl::Seconds(1))),
            "; tried until ", absl::FormatDuration(job.domain->retry.lifetime), " after arrival");
      }
      batch->bounced.push_back(std::move(reported));
    }
    batch->outcomes.emplace_back(r.index, std::move(outcome));
  }
  if (!accounting.lines.empty()) actions_.push_back(std::move(accounting));
  BounceOrWrite(job, std::move(batch));
}

void DeliveryScheduler::BounceOrWrite(Job& job, std::unique_ptr<Batch> batch) {
  const StoredMessage& message = *job.work->message;
  if (batch->bounced.empty()) return WriteBatch(std::move(batch));
  if (message.mail_from.empty()) {
    // RFC 5321 §6.1 / RFC 3464 §2: never a DSN for a message from the null sender.
    ++stats_.dsns_suppressed;
    for (const ReportedRecipient& failed : batch->bounced) {
      if (failed.action != DsnAction::kFailed) continue;
      // Mail from <> is itself a report (ours or another MTA's): its failure ends here.
      RP_LOG(kInfo) << "bounce id=" << message.queue_id << " to <" << failed.address
                    << "> failed: " << failed.status << " "
                    << (failed.diagnostic.empty() ? failed.reason : failed.diagnostic)
                    << "; not reported further (null sender)";
    }
    return WriteBatch(std::move(batch));
  }
  // The DSN is durable before the results that say "bounced": a crash in between sends
  // it twice rather than never.
  batch->id = next_batch_++;
  actions_.push_back(WriteBounce{batch->id, job.work->message, batch->bounced, now_});
  batches_.emplace(batch->id, std::move(batch));
}

void DeliveryScheduler::OnBounceWritten(BatchId id, bool queued, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = batches_.find(id);
  RP_CHECK_MSG(it != batches_.end(), "a bounce for no batch");
  std::unique_ptr<Batch> batch = std::move(it->second);
  batches_.erase(it);
  if (queued) {
    ++stats_.dsns_queued;
  } else {
    KeepBouncesDeferred(*batch);
  }
  WriteBatch(std::move(batch));
  EndEvent();
}

void DeliveryScheduler::KeepBouncesDeferred(Batch& batch) {
  // No DSN could be written: the failed recipients get no record and are tried again
  // after the initial delay (their attempt count unchanged), so the bounce comes later.
  const std::vector<JobRecipient>& recipients = batch.job->work->recipients;
  for (auto& [index, outcome] : batch.outcomes) {
    if (!outcome.bounces()) continue;
    outcome.outcome = Outcome::kDeferred;
    outcome.next_attempt = now_ + batch.job->domain->retry.initial;
    // The count the recipient had (FinishBatch has not updated it yet): an attempt's
    // failure counted one more, an operator's bounce none.
    auto it = std::find_if(recipients.begin(), recipients.end(),
                           [index = index](const JobRecipient& r) { return r.index == index; });
    if (it != recipients.end()) outcome.attempt = it->attempts;
  }
  batch.results.erase(std::remove_if(batch.results.begin(), batch.results.end(),
                                     [](const DeliveryResult& r) {
                                       return r.outcome == Outcome::kBounced ||
                                              r.outcome == Outcome::kExpired;
                                     }),
                      batch.results.end());
}

void DeliveryScheduler::WriteBatch(std::unique_ptr<Batch> batch) {
  if (batch->results.empty()) {
    FinishBatch(*batch);
    return;
  }
  RP_DCHECK(batch->job->busy);
  batch->id = next_batch_++;
  actions_.push_back(WriteResults{batch->id, batch->results, nullptr, batch->job->work->message->home_shard});
  batches_.emplace(batch->id, std::move(batch));
}

void DeliveryScheduler::OnResultsWritten(BatchId id, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = batches_.find(id);
  RP_CHECK_MSG(it != batches_.end(), "results for no batch");
  std::unique_ptr<Batch> batch = std::move(it->second);
  batches_.erase(it);
  // A record that failed to be written changes nothing here: the outcome stands in
  // memory, and after a restart the recipient is tried again.
  FinishBatch(*batch);
  EndEvent();
}

void DeliveryScheduler::FinishBatch(Batch& batch) {
  Job& job = *batch.job;
  RP_CHECK(job.busy);
  job.busy = false;
  Count(job, -1);
  std::vector<JobRecipient>& recipients = job.work->recipients;
  auto find = [&](uint32_t index) {
    return std::find_if(recipients.begin(), recipients.end(),
                        [&](const JobRecipient& r) { return r.index == index; });
  };
  for (const auto& [index, outcome] : batch.outcomes) {
    auto it = find(index);
    if (it == recipients.end()) continue;
    if (outcome.outcome != Outcome::kDeferred) {
      recipients.erase(it);
      continue;
    }
    it->attempts = outcome.attempt;
    it->next_attempt_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(outcome.next_attempt));
  }
  for (uint32_t index : batch.again_now) {
    if (auto it = find(index); it != recipients.end()) it->next_attempt_unix_micros = 0;
  }
  Count(job, +1);
  if (recipients.empty()) return FinishJob(job);
  if (job.pending) {  // an operator's command given during the attempt
    const AdminCommand command = *job.pending;
    job.pending.reset();
    return RunCommand(job, command, job.pending_reason);
  }
  if (ShouldCompact(job)) {
    // The job stays unscheduled (neither due nor on a timer) until the copy is done.
    job.busy = true;
    actions_.push_back(CopyForward{job.id, job.work->message, job.work->recipients});
    return;
  }
  Schedule(job);
}

void DeliveryScheduler::FinishJob(Job& job) {
  Domain& domain = *job.domain;
  --domain.jobs;
  domain.arrivals.erase({job.arrival, job.id});
  ++stats_.messages_finished;
  actions_.push_back(JobFinished{job.work->message});
  maybe_empty_.push_back(domain.key);
  Unindex(job);
  jobs_.erase(job.id);  // frees the job
}

// ---- Compaction ----------------------------------------------------------------------
// A long-deferred job would pin its message's segment (on its home shard) for days.
// Instead its recipients are copied, with their delivery state, into a new message in
// this shard's log; once that copy is durable, "relocated" results finish them in the
// old message (a crash in between gives both copies: a duplicate, never a loss), and
// the job goes on as the new message.

bool DeliveryScheduler::ShouldCompact(const Job& job) const {
  return config_.compaction_age > absl::ZeroDuration() && !stopping_ &&
         now_ - job.taken_at >= config_.compaction_age;
}

void DeliveryScheduler::OnCopiedForward(JobId id, std::shared_ptr<StoredMessage> copy, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = jobs_.find(id);
  RP_CHECK_MSG(it != jobs_.end() && it->second->busy, "a copy for no job");
  Job& job = *it->second;
  job.busy = false;
  job.taken_at = now_;
  if (copy == nullptr) {  // it stays where it is; tried again after its next attempt
    Schedule(job);
    return EndEvent();
  }
  DeliveryJob& work = *job.work;
  WriteResults relocated;
  relocated.finished = work.message;  // the old message lets go once these are written
  relocated.home_shard = work.message->home_shard;
  for (const JobRecipient& r : work.recipients) {
    DeliveryResult moved;
    moved.queue_id = work.message->queue_id;
    moved.recipient_index = r.index;
    moved.outcome = Outcome::kRelocated;
    moved.attempt = r.attempts;
    moved.text = absl::StrCat("relocated to ", copy->queue_id);
    relocated.results.push_back(std::move(moved));
  }
  RP_LOG(kInfo) << "compacted id=" << work.message->queue_id << " into id=" << copy->queue_id
                << " rcpts=" << work.recipients.size();
  actions_.push_back(std::move(relocated));
  // The job is the new message from now on; its recipients are its envelope in order.
  copy->unfinished.store(1, std::memory_order_relaxed);
  Unindex(job);
  work.message = std::move(copy);
  Index(job);
  for (size_t i = 0; i < work.recipients.size(); ++i) work.recipients[i].index = static_cast<uint32_t>(i);
  ++stats_.jobs_compacted;
  Schedule(job);
  EndEvent();
}

// ---- Local delivery ------------------------------------------------------------------

void DeliveryScheduler::OnLocalDelivered(JobId id, std::vector<AttemptReply> replies, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = jobs_.find(id);
  RP_CHECK_MSG(it != jobs_.end() && it->second->busy, "local results for no attempt");
  Complete(*it->second, replies, "maildir", TlsReport{});
  EndEvent();
}

const char* DeliveryScheduler::ClassifyFailure(const AttemptReply& reply) {
  static const BounceRules* const built_in = new BounceRules();
  const BounceRules& rules = bounce_rules_ != nullptr ? *bounce_rules_ : *built_in;
  const absl::string_view status = !reply.enhanced.empty() ? absl::string_view(reply.enhanced)
                                   : reply.code == 0       ? absl::string_view("4.4.1")
                                                           : absl::string_view();
  const BounceClass bounce_class = rules.Classify(reply.code, status, reply.text);
  ++stats_.failures_by_class[static_cast<size_t>(bounce_class)];
  return BounceClassName(bounce_class);
}

}  // namespace ringpost::queue
