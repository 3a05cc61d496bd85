#include "queue/schedule/accounting_line.h"

#include "core/json.h"

namespace ringpost::queue {
namespace {

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(std::max(d, absl::ZeroDuration())); }

}  // namespace

const char* AccountingTypeName(AccountingType type) {
  switch (type) {
    case AccountingType::kDelivery:
      return "delivery";
    case AccountingType::kTransient:
      return "transient";
    case AccountingType::kBounce:
      return "bounce";
    case AccountingType::kExpiration:
      return "expiration";
  }
  return "unknown";
}

void AppendAccountingLine(const AccountingEntry& e, std::string* out) {
  {
    core::JsonObject line(out);
    line.String("type", AccountingTypeName(e.type))
        .Time("time", e.time)
        .String("queue_id", e.queue_id)
        .String("from", e.from)
        .String("rcpt", e.rcpt)
        .String("domain", e.domain)
        .String("host", e.host)
        .Uint("attempt", e.attempt)
        .Number("queued_seconds", Seconds(e.time - e.arrival))
        .Int("code", e.code)
        .String("status", e.status)
        .String("text", e.text)
        .String("tls", e.tls)
        .Bool("tls_verified", e.tls_verified)
        .Bool("possible_duplicate", e.possible_duplicate);
    if (e.type == AccountingType::kTransient && e.next_attempt != absl::InfinitePast()) {
      line.Time("next_attempt", e.next_attempt);
    }
    if (e.by_operator) line.Bool("by_operator", true);
  }
  out->push_back('\n');
}

void AppendReceptionLine(const ReceptionEntry& e, std::string* out) {
  {
    core::JsonObject line(out);
    line.String("type", "reception")
        .Time("time", e.time)
        .String("queue_id", e.queue_id)
        .String("client", e.client)
        .String("helo", e.helo)
        .String("from", e.from);
    {
      core::JsonArray rcpts(line.Key("rcpts"));
      if (e.recipients != nullptr) {
        for (const std::string& r : *e.recipients) rcpts.String(r);
      }
    }
    line.Uint("size", e.size)
        .String("message_id", e.message_id)
        .String("protocol", e.protocol)
        .String("tls", e.tls.empty() ? absl::string_view("none") : e.tls);
  }
  out->push_back('\n');
}

void AppendAdminLine(const AdminEntry& e, std::string* out) {
  {
    core::JsonObject line(out);
    line.String("type", "admin").Time("time", e.time).String("action", e.action);
    {
      core::JsonObject selector(line.Key("selector"));
      if (!e.queue_id.empty()) selector.String("queue_id", e.queue_id);
      if (!e.domain.empty()) selector.String("domain", e.domain);
      if (!e.sender.empty()) selector.String("sender", e.sender);
      if (e.older_than > absl::ZeroDuration()) selector.Number("older_than_seconds", Seconds(e.older_than));
      if (e.all) selector.Bool("all", true);
    }
    line.Uint("jobs", e.jobs).Uint("recipients", e.recipients);
    if (!e.reason.empty()) line.String("reason", e.reason);
    if (e.until != absl::InfinitePast()) {
      if (e.until == absl::InfiniteFuture()) {
        line.Null("until");
      } else {
        line.Time("until", e.until);
      }
    }
    line.String("client", e.client);
  }
  out->push_back('\n');
}

}  // namespace ringpost::queue
