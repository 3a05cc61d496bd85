// DeliveryScheduler, third part: what operators see and do (live queue control):
// summaries and listings, suspensions, flushes, holds, deletes and bounces. Policy like
// the rest: durable effects leave as actions (result and control records, DSNs).
#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/log.h"
#include "queue/schedule/accounting_line.h"
#include "queue/schedule/delivery_scheduler.h"
#include "queue/schedule/delivery_scheduler_parts.h"

namespace ringpost::queue {
namespace {

// A flush makes at most this many jobs due per second (spread over up to a minute), so
// flushing a million messages does not open connections all at once.
constexpr double kFlushJobsPerSecond = 1000;
constexpr absl::Duration kFlushSpreadMax = absl::Minutes(1);

absl::Time ArrivalOf(const StoredMessage& message) {
  return absl::FromUnixMicros(static_cast<int64_t>(message.arrival_unix_micros));
}

}  // namespace

void DeliveryScheduler::Index(const Job& job) {
  by_queue_id_[absl::string_view(job.work->message->queue_id)].push_back(job.id);  // ids only grow
}

void DeliveryScheduler::Unindex(const Job& job) {
  auto it = by_queue_id_.find(absl::string_view(job.work->message->queue_id));
  if (it == by_queue_id_.end()) return;
  auto& ids = it->second;
  ids.erase(std::remove(ids.begin(), ids.end(), job.id), ids.end());
  if (ids.empty()) by_queue_id_.erase(it);
}

const absl::InlinedVector<JobId, 1>* DeliveryScheduler::Candidates(const JobFilter& filter) const {
  if (filter.queue_id.empty()) return nullptr;
  static const absl::InlinedVector<JobId, 1> kNone;
  auto it = by_queue_id_.find(absl::string_view(filter.queue_id));
  return it == by_queue_id_.end() ? &kNone : &it->second;
}

bool DeliveryScheduler::Matches(const Job& job, const JobFilter& filter, absl::Time now) const {
  const StoredMessage& message = *job.work->message;
  if (!filter.queue_id.empty() && message.queue_id != filter.queue_id) return false;
  if (!filter.domain.empty() && job.work->domain != filter.domain) return false;
  if (!filter.sender.empty() && !absl::EqualsIgnoreCase(message.mail_from, filter.sender)) return false;
  if (filter.older_than > absl::ZeroDuration() && now - ArrivalOf(message) < filter.older_than) return false;
  if (filter.source.has_value() && job.domain->source != *filter.source) return false;
  return true;
}

std::vector<DomainSummary> DeliveryScheduler::Summary(size_t top, absl::Time now) const {
  std::vector<const Domain*> shown;
  for (const auto& [name, domain] : domains_) {
    if (domain->jobs > 0 || SuspendedUntil(*domain) > now) shown.push_back(domain.get());
  }
  // Deepest first (ties by name, so the order is stable).
  const size_t keep = std::min(top, shown.size());
  std::partial_sort(shown.begin(), shown.begin() + static_cast<ptrdiff_t>(keep), shown.end(),
                    [](const Domain* a, const Domain* b) {
                      return a->recipients != b->recipients ? a->recipients > b->recipients : a->key < b->key;
                    });
  shown.resize(keep);
  std::vector<DomainSummary> out;
  out.reserve(keep);
  for (const Domain* domain : shown) {
    DomainSummary& d = out.emplace_back();
    d.domain = domain->name;
    d.source = domain->source;
    d.recipients = domain->recipients;
    d.jobs = domain->jobs;
    d.in_flight = domain->in_flight;
    d.deferred = domain->deferred;
    d.held = domain->held;
    if (!domain->arrivals.empty()) d.oldest = domain->arrivals.begin()->first;
    d.last_reply = domain->last_reply;
    d.connections = static_cast<uint32_t>(domain->connections.size());
    if (const Domain* order = OperatorQueue(*domain); order != nullptr && order->suspended_until > now) {
      d.suspended_until = order->suspended_until;
      d.suspension_reason = order->suspension_reason;
    } else if (SuspendedUntil(*domain) > now) {  // a reply-driven rule's
      d.suspended_until = SuspendedUntil(*domain);
      d.suspension_reason = domain->throttle.suspended_until() == d.suspended_until
                                ? domain->throttle.reason()
                                : domain->site->throttle.reason();
    }
  }
  return out;
}

JobView DeliveryScheduler::ViewOf(const Job& job) const {
  JobView view;
  view.id = job.id;
  view.message = job.work->message;
  view.domain = job.work->domain;
  view.recipients = job.work->recipients;
  view.held = job.held;
  view.in_flight = job.busy;
  uint64_t next = UINT64_MAX;
  for (const JobRecipient& r : job.work->recipients) next = std::min(next, r.next_attempt_unix_micros);
  view.next_attempt = absl::FromUnixMicros(static_cast<int64_t>(std::min<uint64_t>(next, INT64_MAX)));
  view.last_reply = job.last_reply;
  return view;
}

std::vector<JobView> DeliveryScheduler::List(const JobFilter& filter, JobId after, size_t limit, absl::Time now,
                                             size_t examine, JobId* next) const {
  std::vector<JobView> out;
  if (const auto* candidates = Candidates(filter)) {
    // One message's few jobs: no scan, and nothing follows.
    for (JobId id : *candidates) {
      if (id <= after || out.size() >= limit) continue;
      const Job& job = *jobs_.at(id);
      if (!Matches(job, filter, now)) continue;
      out.push_back(ViewOf(job));
    }
    if (next != nullptr) *next = 0;
    return out;
  }
  auto it = jobs_.upper_bound(after);
  for (size_t examined = 0; it != jobs_.end() && out.size() < limit && examined < examine; ++it, ++examined) {
    if (next != nullptr) *next = it->first;
    const Job& job = *it->second;
    if (!Matches(job, filter, now)) continue;
    out.push_back(ViewOf(job));
  }
  if (next != nullptr && it == jobs_.end()) *next = 0;
  return out;
}

void DeliveryScheduler::Suspend(const std::string& name, absl::Time until, const std::string& reason,
                                absl::Time now) {
  now_ = std::max(now_, now);
  Domain& domain = DomainFor(name);
  domain.suspended_until = until;
  domain.suspension_reason = reason;
  domain.suspended_at = now_;
  // Its mail goes on by itself when the suspension lapses (or a rest ends, if later).
  wheel_.Schedule(&domain.wake, WheelTime(std::min(std::max(until, domain.resting_until), now_ + kLongestWait)));
  actions_.push_back(WriteControl{ControlRecord{ControlRecord::Kind::kSuspend, name,
                                                static_cast<uint64_t>(absl::ToUnixMicros(now_)),
                                                static_cast<uint64_t>(absl::ToUnixMicros(until)), reason}});
  RP_LOG(kInfo) << "suspended domain=" << name << " until=" << absl::FormatTime(until) << " reason=\"" << reason
                << "\"";
  EndEvent();
}

bool DeliveryScheduler::Resume(const std::string& name, absl::Time now) {
  now_ = std::max(now_, now);
  // The destination's queues: without a source (which holds the operator's order) and
  // from each egress source.
  std::vector<Domain*> queues;
  for (auto& [key, domain] : domains_) {
    if (domain->name == name && Suspended(*domain)) queues.push_back(domain.get());
  }
  if (queues.empty()) return false;
  if (auto it = domains_.find(name); it != domains_.end() && it->second->suspended_until > now_) {
    it->second->suspended_until = absl::InfinitePast();
    it->second->suspension_reason.clear();
  }
  for (Domain* domain : queues) {
    // A reply-driven rule's suspension ends too (its ramp, if any, starts now); a
    // site's stays (it holds for the site's other domains).
    if (domain->throttle.suspended_until() > now_) domain->throttle.Resume(now_);
    if (domain->resting_until > now_) {
      wheel_.Schedule(&domain->wake, WheelTime(domain->resting_until));
    } else {
      wheel_.Cancel(&domain->wake);
    }
  }
  actions_.push_back(WriteControl{ControlRecord{ControlRecord::Kind::kResume, name,
                                                static_cast<uint64_t>(absl::ToUnixMicros(now_)), 0, ""}});
  RP_LOG(kInfo) << "resumed domain=" << name;
  for (Domain* domain : queues) {
    Pump(*domain);
    maybe_empty_.push_back(domain->key);
  }
  EndEvent();
  return true;
}

std::vector<Suspension> DeliveryScheduler::Suspensions(absl::Time now) const {
  std::vector<Suspension> out;
  for (const auto& [key, domain] : domains_) {
    if (domain->suspended_until > now) {
      out.push_back({domain->name, "", domain->suspended_until, domain->suspension_reason});
    } else if (domain->throttle.suspended_until() > now) {
      out.push_back(
          {domain->name, domain->source, domain->throttle.suspended_until(), domain->throttle.reason()});
    }
  }
  std::sort(out.begin(), out.end(), [](const Suspension& a, const Suspension& b) {
    return a.domain != b.domain ? a.domain < b.domain : a.source < b.source;
  });
  return out;
}

void DeliveryScheduler::Restore(const ControlRecord& order, absl::Time now) {
  now_ = std::max(now_, now);
  const absl::Time until = absl::FromUnixMicros(static_cast<int64_t>(order.until_unix_micros));
  if (order.kind != ControlRecord::Kind::kSuspend || until <= now_) return;
  Domain& domain = DomainFor(order.domain);
  domain.suspended_until = until;
  domain.suspension_reason = order.reason;
  domain.suspended_at = absl::FromUnixMicros(static_cast<int64_t>(order.at_unix_micros));
  wheel_.Schedule(&domain.wake, WheelTime(std::min(until, now_ + kLongestWait)));
}

std::vector<ControlRecord> DeliveryScheduler::StandingOrders(absl::Time now) const {
  std::vector<ControlRecord> out;
  for (const auto& [key, domain] : domains_) {
    if (domain->suspended_until <= now) continue;  // only the sourceless queues hold orders
    out.push_back(ControlRecord{ControlRecord::Kind::kSuspend, domain->name,
                                static_cast<uint64_t>(absl::ToUnixMicros(domain->suspended_at)),
                                static_cast<uint64_t>(absl::ToUnixMicros(domain->suspended_until)),
                                domain->suspension_reason});
  }
  return out;
}

bool DeliveryScheduler::WrittenThrough(BatchId batch) const {
  for (const auto& [id, pending] : batches_) {
    if (id <= batch) return false;
  }
  return true;
}

size_t DeliveryScheduler::Flush(const JobFilter& filter, absl::Time now, size_t* recipients) {
  now_ = std::max(now_, now);
  const auto now_micros = static_cast<uint64_t>(absl::ToUnixMicros(now_));
  std::vector<Job*> waiting;     // not due yet: made due
  std::vector<Domain*> resting;  // their domains rest after failures: the rest ends
  size_t due_resting = 0;        // due already, but held up by their domain's rest
  auto consider = [&](Job& job) {
    if (job.busy || job.held || !Matches(job, filter, now_)) return;
    uint64_t due = UINT64_MAX;
    for (const JobRecipient& r : job.work->recipients) due = std::min(due, r.next_attempt_unix_micros);
    Domain& domain = *job.domain;
    const bool domain_rests = domain.resting_until > now_;
    if (domain_rests && std::find(resting.begin(), resting.end(), &domain) == resting.end()) {
      resting.push_back(&domain);
    }
    if (due > now_micros) {
      waiting.push_back(&job);
    } else if (domain_rests) {
      ++due_resting;
      if (recipients != nullptr) *recipients += job.work->recipients.size();
    }
  };
  if (const auto* candidates = Candidates(filter)) {
    for (JobId id : *candidates) consider(*jobs_.at(id));
  } else {
    for (auto& [id, job] : jobs_) consider(*job);
  }
  const absl::Duration spread =
      std::min(kFlushSpreadMax, absl::Seconds(static_cast<double>(waiting.size()) / kFlushJobsPerSecond));
  // A flush also ends the circuit breaker's rest: the operator says try now.
  for (Domain* domain : resting) {
    domain->resting_until = absl::InfinitePast();
    domain->rests = 0;
    if (!Suspended(*domain)) wheel_.Cancel(&domain->wake);
  }
  for (Job* job : waiting) {
    const auto at = static_cast<uint64_t>(absl::ToUnixMicros(now_ + spread * UnitRandom()));
    for (JobRecipient& r : job->work->recipients) r.next_attempt_unix_micros = std::min(r.next_attempt_unix_micros, at);
    Schedule(*job);
  }
  for (Domain* domain : resting) Pump(*domain);
  const size_t flushed = waiting.size() + due_resting;
  stats_.flushed += flushed;
  if (recipients != nullptr) {
    for (const Job* job : waiting) *recipients += job->work->recipients.size();
  }
  RP_LOG(kInfo) << "flush: " << flushed << " jobs, due within " << absl::FormatDuration(spread);
  EndEvent();
  return flushed;
}

size_t DeliveryScheduler::Apply(AdminCommand command, const JobFilter& filter, const std::string& reason,
                                JobId* cursor, size_t limit, absl::Time now, size_t* recipients) {
  now_ = std::max(now_, now);
  std::vector<Job*> matching;
  if (const auto* candidates = Candidates(filter)) {
    // One message's few jobs: one page.
    for (JobId id : *candidates) {
      Job& job = *jobs_.at(id);
      if (id > *cursor && Matches(job, filter, now_)) matching.push_back(&job);
    }
    *cursor = 0;
  } else {
    auto it = jobs_.upper_bound(*cursor);
    for (size_t looked = 0; it != jobs_.end() && looked < limit; ++it, ++looked) {
      *cursor = it->first;
      if (Matches(*it->second, filter, now_)) matching.push_back(it->second.get());
    }
    if (it == jobs_.end()) *cursor = 0;
  }
  if (recipients != nullptr) {
    for (const Job* job : matching) *recipients += job->work->recipients.size();
  }
  // Jobs leave their domains' due queues in one pass per domain (a domain can hold a
  // million due jobs; finding each would be quadratic).
  absl::flat_hash_set<const Job*> leaving;
  absl::flat_hash_set<Domain*> domains;
  for (Job* job : matching) {
    if (job->busy || command == AdminCommand::kRelease) continue;
    leaving.insert(job);
    domains.insert(job->domain);
  }
  for (Domain* domain : domains) {
    std::erase_if(domain->due, [&](const Job* job) { return leaving.contains(job); });
  }
  for (Job* job : matching) {
    if (job->busy) {
      // In an attempt, writing its results or being copied: once that is over.
      if (command != AdminCommand::kRelease) {
        job->pending = command;
        job->pending_reason = reason;
      } else if (job->pending == AdminCommand::kHold) {
        job->pending.reset();
      }
      continue;
    }
    RunCommand(*job, command, reason);
  }
  EndEvent();
  return matching.size();
}

void DeliveryScheduler::RunCommand(Job& job, AdminCommand command, const std::string& reason) {
  // The job is neither busy nor in its domain's due queue.
  RP_CHECK(!job.busy);
  switch (command) {
    case AdminCommand::kHold:
      if (job.held) return;
      Count(job, -1);
      job.held = true;
      Count(job, +1);
      ++stats_.held;
      return WriteOperatorRecords(job, Outcome::kHeld, "held by the operator");
    case AdminCommand::kRelease:
      if (!job.held) return;
      Count(job, -1);
      job.held = false;
      Count(job, +1);
      WriteOperatorRecords(job, Outcome::kReleased, "released by the operator");
      return Schedule(job);
    case AdminCommand::kDelete:
    case AdminCommand::kBounce:
      break;
  }
  // Delete and bounce end every recipient of the job, as an attempt's outcome would.
  Count(job, -1);
  job.held = false;
  Count(job, +1);
  job.busy = true;
  job.attempt.clear();
  for (size_t i = 0; i < job.work->recipients.size(); ++i) job.attempt.push_back(i);
  auto batch = std::make_unique<Batch>();
  batch->job = &job;
  const StoredMessage& message = *job.work->message;
  AccountingLines accounting;
  const std::string text = command == AdminCommand::kDelete ? "deleted by the operator"
                           : reason.empty()                 ? "returned by the operator"
                                                            : absl::StrCat("returned by the operator: ", reason);
  for (const JobRecipient& r : job.work->recipients) {
    RecipientOutcome outcome;
    outcome.attempt = r.attempts;
    outcome.outcome = command == AdminCommand::kDelete ? Outcome::kDeleted : Outcome::kBounced;
    DeliveryResult result;
    result.queue_id = message.queue_id;
    result.recipient_index = r.index;
    result.attempt = r.attempts;
    result.outcome = outcome.outcome;
    result.text = text;
    if (command == AdminCommand::kDelete) {
      ++stats_.deleted;  // the admin record counts these; no recipient line
    } else {
      outcome.status = "5.0.0";
      if (r.dsn.NotifiesFailure()) {  // RFC 3461 §4.1: not with NOTIFY=NEVER
        ReportedRecipient failed;
        failed.address = r.address;
        failed.status = "5.0.0";
        failed.reason = text;
        failed.original_recipient = r.dsn.OriginalRecipient();
        batch->bounced.push_back(std::move(failed));
      }
      ++stats_.bounced;
      AccountingEntry entry;
      entry.type = AccountingType::kBounce;
      entry.time = now_;
      entry.arrival = job.arrival;
      entry.queue_id = message.queue_id;
      entry.from = message.mail_from;
      entry.rcpt = r.address;
      entry.domain = job.work->domain;
      entry.attempt = r.attempts;
      entry.tls = "none";
      entry.status = "5.0.0";
      entry.text = text;
      entry.by_operator = true;
      entry.bounce_class = BounceClassName(BounceClass::kAdmin);
      ++stats_.failures_by_class[static_cast<size_t>(BounceClass::kAdmin)];
      AppendAccountingLine(entry, &accounting.lines);
      RP_LOG(kInfo) << OutcomeLogText(entry);
    }
    batch->results.push_back(std::move(result));
    batch->outcomes.emplace_back(r.index, std::move(outcome));
  }
  RP_LOG(kInfo) << (command == AdminCommand::kDelete ? "deleted" : "bounced") << " by the operator: id="
                << message.queue_id << " domain=" << job.work->domain << " rcpts=" << job.work->recipients.size();
  if (!accounting.lines.empty()) actions_.push_back(std::move(accounting));
  BounceOrWrite(job, std::move(batch));
}

void DeliveryScheduler::WriteOperatorRecords(Job& job, Outcome outcome, const std::string& text) {
  WriteResults write;
  write.home_shard = job.work->message->home_shard;
  for (const JobRecipient& r : job.work->recipients) {
    DeliveryResult result;
    result.queue_id = job.work->message->queue_id;
    result.recipient_index = r.index;
    result.outcome = outcome;
    result.attempt = r.attempts;  // neither counts as an attempt
    result.text = text;
    write.results.push_back(std::move(result));
  }
  actions_.push_back(std::move(write));
}

}  // namespace ringpost::queue
