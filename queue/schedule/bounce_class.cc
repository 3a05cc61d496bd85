#include "queue/schedule/bounce_class.h"

#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ringpost::queue {
namespace {

constexpr const char* kNames[kBounceClassCount] = {
    "invalid_recipient", "mailbox_full", "message_too_large",  "spam_block", "policy", "rate_limited",
    "dns_failure",       "tls_failure",  "connection_failure", "admin",      "other",
};

// The built-in rules, in order: what a reply's text says outright (the providers'
// throttling and blocking replies, TLS) before what its status code says, and the
// status code before the bare reply code.
constexpr const char* kBuiltIn[] = {
    // Throttling the providers publish: Gmail "4.7.28" and "unusual rate", Yahoo
    // "TSS04"/"TS01-03", Microsoft "S3150" and "RP-00x", and the common wordings.
    "rate_limited * *.7.28",
    "rate_limited * * \\bTSS0\\d|\\bTS0[1-3]\\b|\\bS3150\\b|\\bRP-00[1-3]\\b|unusual rate|rate limit|too "
    "many "
    "(messages|connections|recipients|emails|mails)|throttl|sending (rate|limit|quota)|temporarily deferred",
    "spam_block * * spamhaus|spamcop|barracuda|blocklist|blacklist|block list|black list|\\brbl\\b|dnsbl|"
    "blocked using|listed (on|at|in)|poor reputation|bad reputation|unsolicited|\\bspam\\b|junk mail",
    "tls_failure * *.7.10",
    "tls_failure * * \\bTLS\\b|STARTTLS|handshake|certificate",
    "mailbox_full * * mailbox (is )?full|over ?quota|quota exceeded|exceeded .*quota|insufficient storage|"
    "out of storage",
    "message_too_large * * (message|mail) (is )?too (big|large)|size (limit|exceeds)|exceeds .*size",
    "invalid_recipient * * user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|"
    "unknown recipient|invalid recipient|recipient not found|address not found|mailbox not found",
    "invalid_recipient * *.1.1",
    "invalid_recipient * *.1.2",
    "invalid_recipient * *.1.3",
    "invalid_recipient * *.1.6",
    "invalid_recipient * *.1.10",
    "invalid_recipient * *.2.1",
    "mailbox_full * *.2.2",
    "message_too_large * *.2.3",
    "message_too_large * *.3.4",
    "dns_failure * *.4.3",
    "dns_failure * *.4.4",
    "connection_failure * *.4.1",
    "connection_failure * *.4.2",
    "rate_limited * *.4.5",
    "rate_limited * *.5.3",
    "policy * *.7.*",
    "message_too_large 552 *",
};

}  // namespace

const char* BounceClassName(BounceClass bounce_class) { return kNames[static_cast<size_t>(bounce_class)]; }

std::optional<BounceClass> BounceClassNamed(absl::string_view name) {
  for (size_t i = 0; i < kBounceClassCount; ++i) {
    if (name == kNames[i]) return static_cast<BounceClass>(i);
  }
  return std::nullopt;
}

BounceRules::BounceRules() {
  // Compiled once per process; the rules share their expressions (RE2 is thread-safe).
  static const std::vector<Rule>* const built_in = [] {
    auto* rules = new std::vector<Rule>();
    for (const char* line : kBuiltIn) {
      absl::StatusOr<Rule> rule = ParseRule(line);
      if (rule.ok()) rules->push_back(*std::move(rule));  // a built-in rule always parses (tested)
    }
    return rules;
  }();
  rules_ = *built_in;
}
size_t BounceRules::built_in_size() { return std::size(kBuiltIn); }
BounceRules::~BounceRules() = default;
BounceRules::BounceRules(BounceRules&&) noexcept = default;
BounceRules& BounceRules::operator=(BounceRules&&) noexcept = default;

absl::StatusOr<BounceRules::Rule> BounceRules::ParseRule(absl::string_view line) {
  // Three words, then the text pattern: the rest of the line (it may hold spaces).
  std::vector<absl::string_view> words;
  line = absl::StripAsciiWhitespace(line);
  while (words.size() < 3 && !line.empty()) {
    const size_t end = std::min(line.find_first_of(" \t"), line.size());
    words.push_back(line.substr(0, end));
    line = absl::StripLeadingAsciiWhitespace(line.substr(end));
  }
  if (words.size() < 3) return absl::InvalidArgumentError("expected 'class code status [text-regex]'");
  Rule rule;
  const std::optional<BounceClass> named = BounceClassNamed(words[0]);
  if (!named.has_value()) {
    std::vector<std::string> names(std::begin(kNames), std::end(kNames));
    return absl::InvalidArgumentError(
        absl::StrCat("unknown class '", words[0], "' (", absl::StrJoin(names, ", "), ")"));
  }
  rule.bounce_class = *named;
  absl::StatusOr<ReplyPattern> pattern = ReplyPattern::Parse(words[1], words[2], line);
  if (!pattern.ok()) return pattern.status();
  rule.pattern = *std::move(pattern);
  return rule;
}

absl::StatusOr<BounceRules> BounceRules::WithFile(absl::string_view text, absl::string_view path) {
  BounceRules rules;
  std::vector<Rule> mine;
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    if (mine.size() == kRulesMax)
      return absl::InvalidArgumentError(absl::StrCat(path, ": over ", kRulesMax, " rules"));
    absl::StatusOr<Rule> rule = ParseRule(line);
    if (!rule.ok())
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", rule.status().message()));
    mine.push_back(*std::move(rule));
  }
  mine.insert(mine.end(), std::make_move_iterator(rules.rules_.begin()),
              std::make_move_iterator(rules.rules_.end()));
  rules.rules_ = std::move(mine);
  return rules;
}

BounceClass BounceRules::Classify(int code, absl::string_view status, absl::string_view text) const {
  const ReplyPattern::Reply reply(code, status, text);
  for (const Rule& rule : rules_) {
    if (rule.pattern.Matches(reply)) return rule.bounce_class;
  }
  return BounceClass::kOther;
}

}  // namespace ringpost::queue
