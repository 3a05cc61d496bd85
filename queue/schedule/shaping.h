// Traffic shaping: how fast, over how many connections and with what retries mail goes
// to each destination, and what the delivery scheduler does when a destination's
// replies say it is throttling us (DESIGN.md: --shaping). Pure and immutable once
// built; each shard's scheduler keeps its own per-destination state (throttle.h).
//
// Scopes, from the least to the most specific (each setting comes from the most
// specific scope that sets it; the daemon's flags are beneath them all):
//   [default]                        every destination domain
//   [destination."mx:*.google.com"]  a site: every domain whose MX host matches the
//                                    pattern ('*' matches any run of characters), as
//                                    Gmail and every Google Workspace domain
//   [destination."example.com"]      one domain
//   [destination."NAME".source."a"]  a domain or a site from one egress source
//                                    (--egress_sources): over the destination's own
// Rates and connection limits are budgets: a domain's own (from [default] or its
// domain scope) hold for that domain alone, a site's for all of its domains together,
// and both for each egress source apart (a mailbox provider limits each sending
// address).
//
// Reply-driven rules ([[automation]]): a rule matches a reply's code, enhanced status
// and text (an RE2 expression); once it matched `threshold` times within `within` for
// one destination, its action runs on that destination (the rule's `destination`
// when it names one, else the domain's site when it has one, else the domain): suspend
// it for a while (then come back at `ramp_from`, doubling each `ramp_interval` up to
// the destination's rate), set its message rate or connection limit for a while,
// bounce its queue, or treat the (5xx) reply as temporary. For each kind of action, the
// first rule that matches a reply claims it (rules of other kinds still act); the
// built-in rules
// (docs/SHAPING.md) cover the throttling replies that Gmail, Yahoo and Microsoft
// publish; the file's rules come first, so one of its rules overrides them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "queue/schedule/rate.h"
#include "queue/schedule/reply_pattern.h"

namespace ringpost::queue {

// How a destination's connections use STARTTLS; kInherit: as --outbound_tls says.
enum class TlsMode : uint8_t { kInherit, kNone, kOpportunistic, kRequired };

// One scope's settings; unset ones come from a less specific scope.
struct ShapeSettings {
  std::optional<Rate> max_message_rate;      // messages (transactions) started
  std::optional<Rate> max_connection_rate;   // connections opened
  std::optional<uint32_t> connection_limit;  // 0: suspended
  std::optional<uint32_t> max_deliveries_per_connection;
  std::optional<uint32_t> max_recipients_per_transaction;
  std::optional<absl::Duration> retry_initial, retry_max, max_queue_lifetime;
  std::optional<TlsMode> tls;
  // The message rate and connection limit hold for the whole cluster (--redis), not
  // per node.
  std::optional<bool> shared;

  // Takes every setting `specific` sets.
  void Override(const ShapeSettings& specific);
};

enum class AutomationAction : uint8_t { kSuspend, kSetRate, kSetConnectionLimit, kBounce, kTemporary };
inline constexpr size_t kAutomationActionCount = 5;
const char* AutomationActionName(AutomationAction action);  // "suspend", "set_rate", ...

struct AutomationRule {
  std::string name;
  ReplyPattern pattern;
  std::string destination;  // empty: wherever it matches; a domain or "mx:PATTERN"
  // With egress sources: the action holds for the destination from every source, not
  // only from the one whose connection got the reply.
  bool every_source = false;
  uint32_t threshold = 1;   // matches within `within` that set it off
  absl::Duration within = absl::Minutes(1);
  AutomationAction action = AutomationAction::kSuspend;
  absl::Duration duration = absl::ZeroDuration();  // suspend, set_rate, set_connection_limit
  Rate rate;                                       // set_rate
  uint32_t connection_limit = 0;                   // set_connection_limit
  // After a suspension: start again at `ramp_from` (unset: at full speed), doubling
  // every `ramp_interval` up to the destination's max_message_rate (or `ramp_to`, or
  // 64 times `ramp_from` when neither is set).
  std::optional<Rate> ramp_from;
  std::optional<Rate> ramp_to;
  absl::Duration ramp_interval = absl::Minutes(1);
};

class ShapingPolicy {
 public:
  static constexpr size_t kFileBytesMax = 64 << 20;
  static constexpr size_t kDestinationsMax = 1000000;
  static constexpr size_t kRulesMax = 1000;
  static constexpr uint32_t kThresholdMax = 10000;

  // No file: the daemon's flags and the built-in rules.
  ShapingPolicy();
  // A shaping file (TOML, `path` names it in errors). An error is one line naming the
  // file, the line and the key: "shaping.toml:7: max_message_rate: '100/x' is not a
  // rate like 100/s, ...". Unknown keys are errors.
  static absl::StatusOr<ShapingPolicy> Parse(absl::string_view text, absl::string_view path);

  // The site `names` (a route's MX host names, most preferred first) put a domain in:
  // "mx:*.google.com", or empty. The most specific pattern that matches the first name
  // that matches any.
  std::string SiteOf(const std::vector<std::string>& names) const;
  // A domain's settings from egress source `source` (empty: the default source):
  // [default], then its site's, its site's for the source, its own, its own for the
  // source.
  ShapeSettings SettingsFor(absl::string_view domain, absl::string_view site,
                            absl::string_view source = "") const;
  // The budgets a domain keeps alone ([default], then its domain scope, then that for
  // the source), and a site's (none for no site).
  ShapeSettings DomainBudget(absl::string_view domain, absl::string_view source = "") const;
  std::optional<ShapeSettings> SiteBudget(absl::string_view site, absl::string_view source = "") const;
  // The file's rules, then (unless builtin_automation = false) the built-in ones.
  const std::vector<AutomationRule>& automation() const { return automation_; }
  size_t destinations() const { return domains_.size() + sites_.size(); }
  static size_t built_in_rules();
  // Some scope says `shared = true`.
  bool has_shared() const { return has_shared_; }

 private:
  friend class ShapingFileReader;
  struct Empty {};
  explicit ShapingPolicy(Empty) {}
  // Parse, with or without the built-in rules after the file's (shaping_file.cc).
  static absl::StatusOr<ShapingPolicy> Read(absl::string_view text, absl::string_view path,
                                            bool built_in_rules);
  // The built-in rules: a TOML text of their own, read once.
  static const std::vector<AutomationRule>& BuiltInRules();
  ShapeSettings default_;
  absl::flat_hash_map<std::string, ShapeSettings> domains_;   // canonical names
  std::vector<std::pair<std::string, ShapeSettings>> sites_;  // "mx:*.google.com", longest first
  // [destination."NAME".source."SOURCE"], by "NAME/SOURCE" (NAME canonical or "mx:...").
  absl::flat_hash_map<std::string, ShapeSettings> by_source_;
  // Takes the settings `destination` has for `source`, if any.
  void OverrideForSource(absl::string_view destination, absl::string_view source,
                         ShapeSettings* settings) const;
  std::vector<AutomationRule> automation_;
  bool has_shared_ = false;
};

// '*' matches any run of characters; the rest compares without regard to case.
bool GlobMatches(absl::string_view pattern, absl::string_view name);

}  // namespace ringpost::queue
