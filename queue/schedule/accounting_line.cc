#include "queue/schedule/accounting_line.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "core/utf8.h"

namespace ringpost::queue {
namespace {

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out->append(escaped);
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (const size_t n = core::Utf8SequenceLength(s, i); n > 0) {
      out->append(s.data() + i, n);
      i += n;
      continue;
    } else {
      out->append("\\ufffd");
    }
    ++i;
  }
  out->push_back('"');
}

}  // namespace

void AppendAccountingLine(const AccountingEntry& e, std::string* out) {
  absl::StrAppend(out, "{\"time\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", e.time, absl::UTCTimeZone()),
                  "\",\"queue_id\":");
  AppendJsonString(e.queue_id, out);
  out->append(",\"from\":");
  AppendJsonString(e.from, out);
  out->append(",\"rcpt\":");
  AppendJsonString(e.rcpt, out);
  out->append(",\"domain\":");
  AppendJsonString(e.domain, out);
  out->append(",\"host\":");
  AppendJsonString(e.host, out);
  out->append(",\"result\":");
  AppendJsonString(e.result, out);
  absl::StrAppend(out, ",\"code\":", e.code, ",\"status\":");
  AppendJsonString(e.status, out);
  out->append(",\"text\":");
  AppendJsonString(e.text, out);
  absl::StrAppend(out, ",\"attempt\":", e.attempt, ",\"tls\":");
  AppendJsonString(e.tls, out);
  absl::StrAppend(out, ",\"tls_verified\":", e.tls_verified ? "true" : "false");
  absl::StrAppend(out, ",\"possible_duplicate\":", e.possible_duplicate ? "true" : "false", "}\n");
}


}  // namespace ringpost::queue
