// The accounting log's records (DESIGN.md: --accounting_log): one JSON object per line,
// typed by "type", every field documented in docs/accounting.schema.json:
//
//   reception   a message was accepted (answered 250): client, HELO, sender,
//               recipients, size, Message-ID, TLS
//   delivery    a recipient was delivered       ┐ one per recipient per outcome, with
//   transient   a recipient was deferred        │ the attempt number, the time in
//   bounce      a recipient failed for good     │ queue, the next hop and (failures)
//   expiration  a recipient outlived its queue  ┘ the reply
//   admin       an operator's command, and how many jobs and recipients it touched
//   shaping     a reply-driven rule acted on a destination (suspend, set_rate,
//               set_connection_limit, bounce, temporary), and the reply that set it off
//
//   {"type":"delivery","time":"2026-11-29T12:00:00.123456Z","queue_id":"...",
//    "from":"a@x","rcpt":"b@y","domain":"y","host":"127.0.0.1:25","attempt":1,
//    "queued_seconds":0.41,"code":250,"status":"2.0.0","text":"Ok",
//    "tls":"TLSv1.3 TLS_AES_128_GCM_SHA256","tls_verified":false,"possible_duplicate":false}
//
// "tls" is "none" for plaintext; "tls_verified" says whether the next hop's certificate
// chained to a trusted root (--tls_ca_file) and named the MX host; "possible_duplicate"
// says the connection was lost after the final dot, so the next hop may have the
// message already (it is deferred and sent again). Pure: the delivery scheduler, the
// SMTP service and the admin service build lines, the shard's AccountingWriter writes
// them (queue/accounting_log.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace ringpost::queue {

enum class AccountingType { kDelivery, kTransient, kBounce, kExpiration };

// One recipient's outcome.
struct AccountingEntry {
  AccountingType type = AccountingType::kDelivery;
  absl::Time time;
  absl::Time arrival;  // the message's: "queued_seconds" is time - arrival
  absl::string_view queue_id, from, rcpt, domain, host, status, text, tls;
  absl::string_view source;  // the egress source the attempt left from (empty: the default)
  int code = 0;
  uint32_t attempt = 0;
  absl::Time next_attempt = absl::InfinitePast();  // kTransient
  bool tls_verified = false;
  bool possible_duplicate = false;
  bool by_operator = false;  // a bounce an operator asked for
  absl::string_view bounce_class;  // failures: why (queue/schedule/bounce_class.h)
};

struct ReceptionEntry {
  absl::Time time;
  absl::string_view queue_id, client, helo, from, protocol, tls, message_id;
  absl::string_view auth_user;  // who logged in (SMTP AUTH), empty if nobody
  absl::Span<const absl::string_view> recipients;
  uint64_t size = 0;
};

struct AdminEntry {
  absl::Time time;
  absl::string_view action;  // suspend, resume, flush, hold, release, delete, bounce
  absl::string_view queue_id, domain, sender, reason;
  absl::Duration older_than = absl::ZeroDuration();
  bool all = false;
  absl::Time until = absl::InfinitePast();  // suspend
  uint64_t jobs = 0;  // a message's recipients in one domain
  uint64_t recipients = 0;
  absl::string_view client;  // who asked: "unix" or the TCP peer
};

// What a reply-driven rule (queue/schedule/shaping.h) did.
struct ShapingEntry {
  absl::Time time;
  absl::string_view action, rule;
  absl::string_view destination;            // what it acted on: a domain, or a site "mx:*.google.com"
  absl::string_view domain;                 // the domain whose reply set it off
  absl::string_view source;                 // the egress source it acted for (empty: default)
  absl::Time until = absl::InfinitePast();  // suspend, set_rate, set_connection_limit
  absl::string_view rate;                   // set_rate; suspend: the ramp's start, if any
  int64_t connection_limit = -1;            // set_connection_limit
  int code = 0;                             // the reply
  absl::string_view status, text;
};

const char* AccountingTypeName(AccountingType type);
// The daemon log's line for a rule's action (no newline):
//   shaping rule=gmail-rate-limited action=suspend destination=gmail.com
//     until=2026-12-07T10:10:00Z ramp_from=1/s reply="421 4.7.28 ..."
std::string ShapingLogText(const ShapingEntry& entry);

// The daemon log's line for one recipient's outcome, as a maillog says it (no newline):
//   delivered id=3B2KR300000029N from=<a@x> rcpt=<b@y> host=127.0.0.1:25 attempt=1
//     delay=0.41s status=2.0.0 reply="250 Ok"
// A failure adds class=rate_limited (say); a deferral next_attempt=TIME (in 5m); an
// operator's bounce says by the operator.
std::string OutcomeLogText(const AccountingEntry& entry);

// Each appends one JSON line (with its newline) to `out`.
void AppendAccountingLine(const AccountingEntry& entry, std::string* out);
void AppendReceptionLine(const ReceptionEntry& entry, std::string* out);
void AppendAdminLine(const AdminEntry& entry, std::string* out);
void AppendShapingLine(const ShapingEntry& entry, std::string* out);

}  // namespace ringpost::queue
