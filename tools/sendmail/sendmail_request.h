// ringpost-sendmail's pure half: the sendmail command line (the options programs pass
// to /usr/sbin/sendmail) and the message as it will be submitted (line endings made
// CRLF, recipients read from To:/Cc:/Bcc: with -t, Bcc: removed, From: added when
// missing). No I/O, so every rule is unit-tested and fuzzed.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::sendmail {

inline constexpr size_t kMessageBytesMax = 100 << 20;  // the daemon's largest --max_message_size
inline constexpr size_t kRecipientsMax = 10000;

struct SendmailRequest {
  std::string sender;                    // -f/-r ("" with no option: the user's own address)
  bool sender_given = false;             // -f/-r was there ("<>" or "" is the null sender)
  std::string full_name;                 // -F, for a From: header the message lacks
  bool recipients_from_headers = false;  // -t
  bool dot_ends_input = true;            // false with -i or -oi: a lone "." is text
  std::vector<std::string> recipients;   // the arguments
  std::string server;                    // --server=HOST:PORT (empty: the default)
  // DSN requests (RFC 3461), sent as parameters: -N (NOTIFY, for every recipient),
  // -R (RET), -V (ENVID, xtext-encoded here). Empty: not asked.
  std::string notify;
  std::string ret;
  std::string envid;
};

// The sendmail options Postfix documents: -f/-r, -F, -t, -i, -oi, -N never|success,
// failure,delay, -R full|hdrs, -V envid, and the ones that change nothing here (-bm,
// -oem, -odb, -odi, -oX..., -B, -L, -U, -v, -C, -G, -h, -n, -X), values attached
// ("-fme@x") or separate ("-f me@x"); "--" ends them.
// Other modes (-bs, -bp, -q, ...) are refused.
absl::StatusOr<SendmailRequest> ParseSendmailArgs(const std::vector<std::string>& args);

// RFC 5322 §3.4 address-list as people write it ("Ann <a@x>, b@y (Bob), \"c, d\" <c@z>,
// group: e@w;"): the addr-specs, in order. Bounded by the value's length.
std::vector<std::string> ParseAddressList(absl::string_view value);

struct PreparedMessage {
  std::string data;                            // CRLF lines (a bare CR dropped), not dot-stuffed
  std::vector<std::string> header_recipients;  // To/Cc/Bcc, with -t only
  bool eight_bit = false;                      // a byte over 127: BODY=8BITMIME
};

// `input` is standard input as read. `sender` is the envelope sender, for From:.
absl::StatusOr<PreparedMessage> PrepareMessage(absl::string_view input, const SendmailRequest& request,
                                               absl::string_view sender);

}  // namespace ringpost::sendmail
