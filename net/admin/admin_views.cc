#include "net/admin/admin_views.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/json.h"

namespace ringpost::net {
namespace {

absl::Time FromMicros(uint64_t micros) {
  return absl::FromUnixMicros(static_cast<int64_t>(std::min<uint64_t>(micros, INT64_MAX)));
}

double SecondsSince(absl::Time then, absl::Time now) {
  return absl::ToDoubleSeconds(std::max(now - then, absl::ZeroDuration()));
}

// "3d4h", "2h5m", "41s": an age at a glance.
std::string ShortAge(absl::Duration d) {
  const int64_t s = absl::ToInt64Seconds(std::max(d, absl::ZeroDuration()));
  if (s >= 86400) return absl::StrCat(s / 86400, "d", (s % 86400) / 3600, "h");
  if (s >= 3600) return absl::StrCat(s / 3600, "h", (s % 3600) / 60, "m");
  if (s >= 60) return absl::StrCat(s / 60, "m", s % 60, "s");
  return absl::StrCat(s, "s");
}

std::string TextTime(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

absl::Time Arrival(const queue::JobView& job) { return FromMicros(job.message->arrival_unix_micros); }

// Due now, or waiting for its next attempt; held; or in an attempt.
std::string JobState(const queue::JobView& job, absl::Time now) {
  if (job.held) return "held";
  if (job.in_flight) return "active";
  if (job.next_attempt > now) {
    bool tried = false;
    for (const queue::JobRecipient& r : job.recipients) tried |= r.attempts > 0;
    return tried ? "deferred" : "waiting";
  }
  return "due";
}

void AppendUntil(core::JsonObject& object, absl::string_view key, absl::Time until) {
  if (until == absl::InfiniteFuture() || until >= absl::FromUnixSeconds(253402300799)) {
    object.Null(key);  // until resumed
  } else {
    object.Time(key, until);
  }
}

std::string UntilText(absl::Time until) {
  return until >= absl::FromUnixSeconds(253402300799) ? std::string("resumed") : TextTime(until);
}

}  // namespace

std::string SummaryJson(const std::vector<queue::DomainSummary>& domains, absl::Time now) {
  std::string out;
  {
    core::JsonObject root(&out);
    root.Time("time", now);
    core::JsonArray list(root.Key("destinations"));
    for (const queue::DomainSummary& d : domains) {
      core::JsonObject o(list.Next());
      o.String("domain", d.domain);
      if (!d.source.empty()) o.String("source", d.source);
      o.Uint("recipients", d.recipients)
          .Uint("messages", d.jobs)
          .Uint("in_flight", d.in_flight)
          .Uint("deferred", d.deferred)
          .Uint("held", d.held)
          .Uint("connections", d.connections);
      if (d.oldest != absl::InfiniteFuture()) {
        o.Time("oldest", d.oldest).Number("oldest_age_seconds", SecondsSince(d.oldest, now));
      } else {
        o.Null("oldest");
      }
      o.String("last_reply", d.last_reply);
      if (d.suspended_until > now) {
        AppendUntil(o, "suspended_until", d.suspended_until);
        o.String("suspension_reason", d.suspension_reason);
      }
    }
  }
  out.push_back('\n');
  return out;
}

std::string SummaryText(const std::vector<queue::DomainSummary>& domains, absl::Time now) {
  std::string out = absl::StrFormat("%-40s %9s %8s %8s %6s %8s  %s\n", "DOMAIN", "RCPTS", "ACTIVE", "DEFERRED",
                                    "HELD", "OLDEST", "SUSPENDED / LAST REPLY");
  for (const queue::DomainSummary& d : domains) {
    const std::string oldest = d.oldest == absl::InfiniteFuture() ? "-" : ShortAge(now - d.oldest);
    std::string last = d.suspended_until > now
                           ? absl::StrCat("suspended until ", UntilText(d.suspended_until),
                                          d.suspension_reason.empty() ? "" : " (", d.suspension_reason,
                                          d.suspension_reason.empty() ? "" : ")")
                           : d.last_reply;
    if (last.size() > 80) last = absl::StrCat(last.substr(0, 77), "...");
    const std::string destination = d.source.empty() ? d.domain : absl::StrCat(d.domain, " via ", d.source);
    absl::StrAppendFormat(&out, "%-40s %9u %8u %8u %6u %8s  %s\n", destination, d.recipients, d.in_flight,
                          d.deferred, d.held, oldest, last);
  }
  return out;
}

void AppendJobJson(const queue::JobView& job, absl::Time now, std::string* out) {
  {
    core::JsonObject o(out);
    const queue::StoredMessage& m = *job.message;
    o.String("queue_id", m.queue_id)
        .String("domain", job.domain)
        .String("from", m.mail_from)
        .Time("arrival", Arrival(job))
        .Number("age_seconds", SecondsSince(Arrival(job), now))
        .Uint("size", m.body.bytes)
        .Int("shard", m.home_shard)
        .String("state", JobState(job, now));
    if (job.next_attempt > now) o.Time("next_attempt", job.next_attempt);
    o.String("last_reply", job.last_reply);
    core::JsonArray rcpts(o.Key("recipients"));
    for (const queue::JobRecipient& r : job.recipients) {
      core::JsonObject ro(rcpts.Next());
      ro.String("address", r.address).Uint("attempts", r.attempts);
      const absl::Time next = FromMicros(r.next_attempt_unix_micros);
      if (next > now) ro.Time("next_attempt", next);
    }
  }
  out->push_back('\n');
}

std::string JobTextHeader() {
  return absl::StrFormat("%-15s %-8s %8s %6s  %-30s %s\n", "QUEUE ID", "STATE", "SIZE", "AGE", "FROM",
                         "RECIPIENTS");
}

void AppendJobText(const queue::JobView& job, absl::Time now, std::string* out) {
  const queue::StoredMessage& m = *job.message;
  std::string rcpts;
  for (const queue::JobRecipient& r : job.recipients) absl::StrAppend(&rcpts, rcpts.empty() ? "" : " ", r.address);
  absl::StrAppendFormat(out, "%-15s %-8s %8u %6s  %-30s %s\n", m.queue_id, JobState(job, now), m.body.bytes,
                        ShortAge(now - Arrival(job)), m.mail_from.empty() ? "<>" : m.mail_from, rcpts);
  // As mailq does: why the job's recipients are still here, under its line.
  if (job.last_reply.empty()) return;
  std::string why = job.last_reply;
  if (why.size() > 100) why = absl::StrCat(why.substr(0, 97), "...");
  if (job.next_attempt > now && !job.held)
    absl::StrAppend(&why, "; next attempt in ", ShortAge(job.next_attempt - now));
  absl::StrAppendFormat(out, "%-15s (%s)\n", "", why);
}

std::string ShowJson(const std::vector<queue::JobView>& jobs, const queue::Envelope* envelope, absl::Time now) {
  std::string out;
  {
    core::JsonObject o(&out);
    const queue::StoredMessage& m = *jobs.front().message;
    o.String("queue_id", m.queue_id)
        .String("from", m.mail_from)
        .Time("arrival", Arrival(jobs.front()))
        .Number("age_seconds", SecondsSince(Arrival(jobs.front()), now))
        .Uint("size", m.body.bytes);
    if (envelope != nullptr) {
      o.String("client", envelope->client_address)
          .String("helo", envelope->helo)
          .String("protocol", envelope->protocol)
          .String("mail_params", envelope->mail_params);
    }
    core::JsonArray list(o.Key("jobs"));
    for (const queue::JobView& job : jobs) {
      std::string line;
      AppendJobJson(job, now, &line);
      line.pop_back();
      list.Next()->append(line);
    }
  }
  out.push_back('\n');
  return out;
}

std::string ShowText(const std::vector<queue::JobView>& jobs, const queue::Envelope* envelope, absl::Time now) {
  const queue::StoredMessage& m = *jobs.front().message;
  std::string out = absl::StrCat("id: ", m.queue_id, "\narrival: ", TextTime(Arrival(jobs.front())), " (",
                                 ShortAge(now - Arrival(jobs.front())), " ago)\n");
  if (envelope != nullptr) {
    absl::StrAppend(&out, "client: ", envelope->client_address, "\nhelo: ", envelope->helo,
                    "\nprotocol: ", envelope->protocol, "\n");
  }
  absl::StrAppend(&out, "from: <", m.mail_from, ">", envelope != nullptr && !envelope->mail_params.empty() ? " " : "",
                  envelope != nullptr ? envelope->mail_params : "", "\nbytes: ", m.body.bytes, "\n");
  for (const queue::JobView& job : jobs) {
    const std::string state = JobState(job, now);
    for (const queue::JobRecipient& r : job.recipients) {
      absl::StrAppend(&out, "to: <", r.address, "> ", state, " attempts=", r.attempts);
      const absl::Time next = FromMicros(r.next_attempt_unix_micros);
      if (next > now && !job.held) absl::StrAppend(&out, " next=", TextTime(next));
      out.push_back('\n');
    }
    if (!job.last_reply.empty()) absl::StrAppend(&out, "last reply (", job.domain, "): ", job.last_reply, "\n");
  }
  return out;
}

std::string SuspensionsJson(const std::vector<queue::Suspension>& suspensions) {
  std::string out;
  {
    core::JsonObject root(&out);
    core::JsonArray list(root.Key("suspensions"));
    for (const queue::Suspension& s : suspensions) {
      core::JsonObject o(list.Next());
      o.String("domain", s.domain);
      if (!s.source.empty()) o.String("source", s.source);
      AppendUntil(o, "until", s.until);
      o.String("reason", s.reason);
    }
  }
  out.push_back('\n');
  return out;
}

std::string SuspensionsText(const std::vector<queue::Suspension>& suspensions) {
  std::string out;
  for (const queue::Suspension& s : suspensions) {
    absl::StrAppend(&out, s.domain, s.source.empty() ? "" : " via ", s.source, " until ", UntilText(s.until),
                    s.reason.empty() ? "" : " (", s.reason, s.reason.empty() ? "" : ")", "\n");
  }
  if (suspensions.empty()) out = "no suspended destinations\n";
  return out;
}

std::string CommandJson(const CommandOutcome& c) {
  std::string out;
  {
    core::JsonObject o(&out);
    o.String("action", c.action);
    if (!c.domain.empty()) o.String("domain", c.domain);
    if (c.action == "suspend") {
      AppendUntil(o, "until", c.until);
      o.String("reason", c.reason);
    } else if (c.action != "resume") {
      o.Uint("jobs", c.jobs).Uint("recipients", c.recipients);
    }
  }
  out.push_back('\n');
  return out;
}

std::string CommandText(const CommandOutcome& c) {
  if (c.action == "suspend") {
    return absl::StrCat("suspended ", c.domain, " until ", UntilText(c.until), "\n");
  }
  if (c.action == "resume") return absl::StrCat("resumed ", c.domain, "\n");
  const char* done = c.action == "hold"      ? "held"
                     : c.action == "release" ? "released"
                     : c.action == "delete"  ? "deleted"
                     : c.action == "bounce"  ? "bounced"
                                             : "flushed";
  return absl::StrCat(done, " ", c.recipients, c.recipients == 1 ? " recipient" : " recipients", " in ", c.jobs,
                      c.jobs == 1 ? " job" : " jobs", " (a job: a message's recipients in one domain)\n");
}

std::string NotQueuedText(absl::string_view queue_id) {
  return absl::StrCat(queue_id, " is not queued (finished mail leaves the queue: see the accounting log)");
}

std::string ErrorBody(const std::string& message, bool text) {
  if (text) return message + "\n";
  std::string out;
  core::JsonObject(&out).String("error", message);
  out.push_back('\n');
  return out;
}

}  // namespace ringpost::net
