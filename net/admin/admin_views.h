// What the admin API answers, as JSON (the API's format) or as text (what
// ringpost-queue prints). Pure: views of the scheduler in, bytes out.
//
// Times are RFC 3339 UTC; ages and durations are seconds. A listing is one JSON object
// (or one text line) per job, a job being a message's recipients in one destination
// domain, so a message for three domains is three lines.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "queue/record.h"
#include "queue/schedule/delivery_scheduler.h"

namespace ringpost::net {

std::string SummaryJson(const std::vector<queue::DomainSummary>& domains, absl::Time now);
std::string SummaryText(const std::vector<queue::DomainSummary>& domains, absl::Time now);

// One line (with its newline).
void AppendJobJson(const queue::JobView& job, absl::Time now, std::string* out);
void AppendJobText(const queue::JobView& job, absl::Time now, std::string* out);
// The text listing's first line.
std::string JobTextHeader();

// One message: its jobs (on every shard) and, when it could be read, its envelope.
std::string ShowJson(const std::vector<queue::JobView>& jobs, const queue::Envelope* envelope, absl::Time now);
std::string ShowText(const std::vector<queue::JobView>& jobs, const queue::Envelope* envelope, absl::Time now);

std::string SuspensionsJson(const std::vector<queue::Suspension>& suspensions);
std::string SuspensionsText(const std::vector<queue::Suspension>& suspensions);

// What a command did: {"action":"hold","jobs":3,"recipients":5}, or its text.
struct CommandOutcome {
  std::string action;
  uint64_t jobs = 0;  // a message's recipients in one domain
  uint64_t recipients = 0;
  std::string domain;                           // suspend, resume
  absl::Time until = absl::InfinitePast();      // suspend (InfiniteFuture: until resumed)
  std::string reason;
};
std::string CommandJson(const CommandOutcome& outcome);
std::string CommandText(const CommandOutcome& outcome);

// An error body: {"error":"..."} or the message and a newline.
// The answer for a queue id the queue does not hold: finished mail leaves the queue, and
// only the accounting log remembers it.
std::string NotQueuedText(absl::string_view queue_id);

std::string ErrorBody(const std::string& message, bool text = false);

}  // namespace ringpost::net
