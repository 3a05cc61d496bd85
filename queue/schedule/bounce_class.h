// Why a delivery failed, in one word an operator can count and alert on: every
// deferral, bounce and expiry gets a class from its reply (the code, the RFC 3463
// enhanced status code and the text). Built-in rules know RFC 3463's codes and what
// the large mailbox providers write when they throttle or block (their postmaster
// pages); --bounce_rules=FILE puts its rules before them, and the first rule that
// matches decides (so a file can override). Pure; the texts are matched with RE2
// (linear time, whatever a reply holds), without regard to case.
//
// Rules file: one rule per line, "class code status [text-regex]" (# comments):
//   rate_limited   421   4.7.0   \[TSS04\]
//   spam_block     5*    *.7.1   spamhaus|blocklist
// code: three digits, a prefix ending in '*' ("5*", "55*"), or '*'; status: X.Y.Z with
// any part '*' ("*.7.28"), or '*' (a status is then not needed); text: the rest of the
// line, an RE2 expression searched for in the reply's text (absent: any text).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "queue/schedule/reply_pattern.h"

namespace ringpost::queue {

enum class BounceClass : uint8_t {
  kInvalidRecipient,   // no such mailbox or domain (5.1.1, 5.1.2, 5.1.10, 5.2.1)
  kMailboxFull,        // 4.2.2 / 5.2.2, "over quota"
  kMessageTooLarge,    // 5.2.3, 5.3.4, 552
  kSpamBlock,          // blocklists, reputation, "unsolicited"
  kPolicy,             // 5.7.x not otherwise named: relaying denied, DMARC/SPF/DKIM (5.7.23-27)
  kRateLimited,        // throttling: Gmail 4.7.28, Yahoo TSS04, Microsoft S3150, congestion
  kDnsFailure,         // the next hop could not be looked up (4.4.3, 4.4.4)
  kTlsFailure,         // a handshake that failed, TLS required but not offered (x.7.10)
  kConnectionFailure,  // no connection, or one lost (4.4.1, 4.4.2)
  kAdmin,              // an operator bounced it
  kOther,
};
inline constexpr size_t kBounceClassCount = static_cast<size_t>(BounceClass::kOther) + 1;

const char* BounceClassName(BounceClass bounce_class);  // "rate_limited"
std::optional<BounceClass> BounceClassNamed(absl::string_view name);

class BounceRules {
 public:
  static constexpr size_t kRulesMax = 10000;

  // The built-in rules alone.
  BounceRules();
  ~BounceRules();
  BounceRules(BounceRules&&) noexcept;
  BounceRules& operator=(BounceRules&&) noexcept;

  // The rules of `text` (a file's contents, named `path` in errors) before the built-in
  // ones. An error names the line: "PATH:3: unknown class 'x' (invalid_recipient, ...)".
  static absl::StatusOr<BounceRules> WithFile(absl::string_view text, absl::string_view path);

  // `code`: 0 when there was no reply; `status`: "5.1.1" or empty.
  BounceClass Classify(int code, absl::string_view status, absl::string_view text) const;
  size_t size() const { return rules_.size(); }
  static size_t built_in_size();  // the built-in rules (every one of them parses: tested)

 private:
  struct Rule {
    BounceClass bounce_class = BounceClass::kOther;
    ReplyPattern pattern;
  };
  static absl::StatusOr<Rule> ParseRule(absl::string_view line);
  std::vector<Rule> rules_;
};

}  // namespace ringpost::queue
