// One line of the accounting log (DESIGN.md: --accounting_log): a JSON object per
// recipient per delivery attempt outcome, for operators and their tools.
//
//   {"time":"2026-11-29T12:00:00.123456Z","queue_id":"...","from":"a@x","rcpt":"b@y",
//    "domain":"y","host":"127.0.0.1:25","result":"delivered","code":250,
//    "status":"2.0.0","text":"250 2.0.0 Ok","attempt":1,
//    "tls":"TLSv1.3 TLS_AES_128_GCM_SHA256","tls_verified":false,"possible_duplicate":false}
//
// "tls" is "none" for plaintext; "tls_verified" says whether the next hop's certificate
// chained to a trusted root (--tls_ca_file) and named the MX host; "possible_duplicate"
// says the connection was lost after the final dot, so the next hop may have the
// message already (it is deferred and sent again). Pure: the delivery scheduler builds
// the lines, the shard's AccountingLog writes them (queue/accounting_log.h).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ringpost::queue {

struct AccountingEntry {
  absl::Time time;
  absl::string_view queue_id, from, rcpt, domain, host, result, status, text, tls;
  int code = 0;
  uint32_t attempt = 0;
  bool tls_verified = false;
  bool possible_duplicate = false;
};

// Appends one JSON line (with its newline) to `out`. Strings are escaped per RFC 8259
// (bytes that are not valid UTF-8 become U+FFFD, so every line parses).
void AppendAccountingLine(const AccountingEntry& entry, std::string* out);

}  // namespace ringpost::queue
