#include "tools/queue_offline.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "net/admin/admin_views.h"
#include "queue/log_reader.h"
#include "queue/recovery.h"
#include "queue/schedule/delivery_job.h"
#include "queue/schedule/delivery_scheduler.h"
#include "queue/spool_lock.h"

namespace ringpost {
namespace {

int Fail(const std::string& message, int status) {
  std::fprintf(stderr, "ringpost-queue: %s\n", message.c_str());
  return status;
}

void Print(const std::string& text, FILE* out) { std::fwrite(text.data(), 1, text.size(), out); }

}  // namespace

int RunOffline(const std::string& spool_dir, const net::AdminRequest& request, FILE* out) {
  if (net::AdminVerbIsCommand(request.verb) || request.verb == net::AdminVerb::kSuspend ||
      request.verb == net::AdminVerb::kResume || request.verb == net::AdminVerb::kFlush) {
    return Fail(absl::StrCat(net::AdminVerbName(request.verb),
                             " needs the running daemon (its admin socket did not answer)"),
                1);
  }
  auto lock = queue::SpoolLock::Acquire(spool_dir, queue::SpoolLock::Create::kNo);
  if (absl::IsNotFound(lock.status())) return Fail(std::string(lock.status().message()), 2);
  if (!lock.ok()) {
    return Fail(absl::StrCat(lock.status().message(),
                             " (a daemon holds the spool but its admin socket did not answer: --admin_socket?)"),
                1);
  }
  auto recovered = queue::RecoverSpool(spool_dir);
  if (!recovered.ok()) return Fail(std::string(recovered.status().message()), 1);

  // The queue as the daemon would schedule it after a restart, in a scheduler that never
  // runs: its views are the admin API's.
  const absl::Time now = absl::Now();
  queue::DeliveryScheduler scheduler(queue::SchedulerConfig{}, now);
  for (const queue::ControlRecord& order : recovered->controls) scheduler.Restore(order, now);
  for (const queue::RecoveredMessage& m : recovered->live) {
    const queue::RecoveredSegment& segment = recovered->segments[m.segment];
    auto envelope = queue::ReadEnvelope(segment.path, m.commit_offset);
    if (!envelope.ok()) return Fail(absl::StrCat(m.queue_id, ": ", envelope.status().message()), 1);
    if (envelope->recipients.size() != m.recipients.size()) continue;
    for (size_t i = 0; i < m.recipients.size(); ++i) {
      queue::Recipient& r = envelope->recipients[i];
      r.final = m.recipients[i].final;
      r.held = m.recipients[i].held;
      r.attempts = m.recipients[i].attempts;
      r.next_attempt_unix_micros = m.recipients[i].next_attempt_unix_micros;
    }
    std::shared_ptr<queue::StoredMessage> message = queue::StoredMessageOf(*envelope);
    message->home_shard = static_cast<int>(m.shard);
    message->segment = segment.number;
    message->segment_path = segment.path;
    message->commit_offset = m.commit_offset;
    for (auto& job : queue::SplitByDomain(message, envelope->recipients)) scheduler.Accept(std::move(job), now);
  }

  switch (request.verb) {
    case net::AdminVerb::kSummary: {
      const auto domains = scheduler.Summary(request.top, now);
      Print(request.text ? net::SummaryText(domains, now) : net::SummaryJson(domains, now), out);
      return 0;
    }
    case net::AdminVerb::kSuspensions: {
      const auto suspensions = scheduler.Suspensions(now);
      Print(request.text ? net::SuspensionsText(suspensions) : net::SuspensionsJson(suspensions), out);
      return 0;
    }
    case net::AdminVerb::kList: {
      if (request.text) Print(net::JobTextHeader(), out);
      size_t listed = 0;
      queue::JobId after = 0;
      while (listed < request.limit) {
        const auto page = scheduler.List(request.filter, after, 1024, now);
        if (page.empty()) break;
        std::string lines;
        for (const queue::JobView& job : page) {
          if (listed == request.limit) break;
          ++listed;
          request.text ? net::AppendJobText(job, now, &lines) : net::AppendJobJson(job, now, &lines);
        }
        Print(lines, out);
        after = page.back().id;
      }
      if (request.text) Print(absl::StrCat(listed, listed == 1 ? " job\n" : " jobs\n"), out);
      return 0;
    }
    case net::AdminVerb::kShow:
    case net::AdminVerb::kBody: {
      const auto jobs = scheduler.List(request.filter, 0, SIZE_MAX, now);
      if (jobs.empty()) return Fail(net::NotQueuedText(request.filter.queue_id), 1);
      const queue::StoredMessage& m = *jobs.front().message;
      auto envelope = queue::ReadEnvelope(m.segment_path, m.commit_offset);
      if (!envelope.ok()) return Fail(std::string(envelope.status().message()), 1);
      if (request.verb == net::AdminVerb::kShow) {
        Print(request.text ? net::ShowText(jobs, &*envelope, now) : net::ShowJson(jobs, &*envelope, now), out);
        return 0;
      }
      auto body = queue::ReadBody(m.segment_path, *envelope);
      if (!body.ok()) return Fail(std::string(body.status().message()), 1);
      Print(*body, out);
      return 0;
    }
    default:
      return 1;  // commands were refused above
  }
}

}  // namespace ringpost
