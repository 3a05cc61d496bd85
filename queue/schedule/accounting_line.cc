#include "queue/schedule/accounting_line.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/json.h"

namespace ringpost::queue {
namespace {

absl::Duration NotNegative(absl::Duration d) { return std::max(d, absl::ZeroDuration()); }

// The log's word for an outcome: what happened, as Postfix's maillog says "status=".
const char* OutcomeWord(AccountingType type) {
  switch (type) {
    case AccountingType::kDelivery:
      return "delivered";
    case AccountingType::kTransient:
      return "deferred";
    case AccountingType::kBounce:
      return "bounced";
    case AccountingType::kExpiration:
      return "expired";
  }
  return "unknown";
}

// "0.41s", "5m12s", "2d3h": how long, to the second past a minute.
std::string ShortDuration(absl::Duration d) {
  d = std::max(d, absl::ZeroDuration());
  if (d < absl::Minutes(1)) return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(d));
  return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1)));
}

}  // namespace

std::string OutcomeLogText(const AccountingEntry& e) {
  std::string reply = e.code != 0 ? absl::StrCat(e.code, " ", e.text) : std::string(e.text);
  std::string line = absl::StrCat(OutcomeWord(e.type), " id=", e.queue_id, " from=<", e.from, "> rcpt=<",
                                  e.rcpt, "> host=", e.host.empty() ? absl::string_view("none") : e.host,
                                  " attempt=", e.attempt, " delay=", ShortDuration(e.time - e.arrival),
                                  " status=", e.status.empty() ? absl::string_view("-") : e.status,
                                  " reply=\"", absl::CHexEscape(reply), "\"");
  if (!e.bounce_class.empty()) absl::StrAppend(&line, " class=", e.bounce_class);
  if (e.type == AccountingType::kTransient && e.next_attempt != absl::InfinitePast()) {
    absl::StrAppend(
        &line, " next_attempt=", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", e.next_attempt, absl::UTCTimeZone()),
        " (in ", ShortDuration(e.next_attempt - e.time), ")");
  }
  if (e.by_operator) absl::StrAppend(&line, " by the operator");
  return line;
}

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
        .String("host", e.host);
    if (!e.source.empty()) line.String("source", e.source);
    line.Uint("attempt", e.attempt)
        .Seconds("queued_seconds", NotNegative(e.time - e.arrival))
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
    if (!e.bounce_class.empty()) line.String("class", e.bounce_class);
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
      for (absl::string_view r : e.recipients) rcpts.String(r);
    }
    line.Uint("size", e.size)
        .String("message_id", e.message_id)
        .String("protocol", e.protocol)
        .String("tls", e.tls.empty() ? absl::string_view("none") : e.tls);
    if (!e.auth_user.empty()) line.String("auth_user", e.auth_user);
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
      if (e.older_than > absl::ZeroDuration()) selector.Seconds("older_than_seconds", e.older_than);
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

std::string ShapingLogText(const ShapingEntry& e) {
  std::string line =
      absl::StrCat("shaping rule=", e.rule, " action=", e.action, " destination=", e.destination);
  if (e.destination != e.domain) absl::StrAppend(&line, " domain=", e.domain);
  if (!e.source.empty()) absl::StrAppend(&line, " source=", e.source);
  if (e.until != absl::InfinitePast()) {
    absl::StrAppend(&line, " until=", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", e.until, absl::UTCTimeZone()));
  }
  if (!e.rate.empty()) absl::StrAppend(&line, e.action == "suspend" ? " ramp_from=" : " rate=", e.rate);
  if (e.connection_limit >= 0) absl::StrAppend(&line, " connection_limit=", e.connection_limit);
  const std::string reply = e.code != 0 ? absl::StrCat(e.code, " ", e.text) : std::string(e.text);
  absl::StrAppend(&line, " reply=\"", absl::CHexEscape(reply), "\"");
  return line;
}

void AppendShapingLine(const ShapingEntry& e, std::string* out) {
  {
    core::JsonObject line(out);
    line.String("type", "shaping")
        .Time("time", e.time)
        .String("action", e.action)
        .String("rule", e.rule)
        .String("destination", e.destination)
        .String("domain", e.domain);
    if (!e.source.empty()) line.String("source", e.source);
    if (e.until != absl::InfinitePast()) line.Time("until", e.until);
    if (!e.rate.empty()) line.String(e.action == "suspend" ? "ramp_from" : "rate", e.rate);
    if (e.connection_limit >= 0) line.Uint("connection_limit", static_cast<uint64_t>(e.connection_limit));
    line.Uint("code", static_cast<uint64_t>(std::max(e.code, 0)))
        .String("status", e.status)
        .String("text", e.text);
  }
  out->push_back('\n');
}

}  // namespace ringpost::queue
