#include "queue/schedule/shaping.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ringpost::queue {
namespace {

constexpr const char* kActionNames[kAutomationActionCount] = {"suspend", "set_rate", "set_connection_limit",
                                                              "bounce", "temporary"};

// The built-in rules: the throttling replies the large mailbox providers document on
// their postmaster pages (docs/SHAPING.md quotes them). A shaping file's rules come
// first; `builtin_automation = false` leaves these out.
constexpr const char kBuiltInAutomation[] = R"toml(
# Gmail: "421 4.7.28 ... Our system has detected an unusual rate of unsolicited mail
# originating from your IP address. To protect our users from spam, mail sent from your
# IP address has been temporarily rate limited."
[[automation]]
name = "gmail-rate-limited"
code = "421"
enhanced = "4.7.28"
action = "suspend"
duration = "10m"
ramp_from = "1/s"

# Yahoo: "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to
# unexpected volume or user complaints"
[[automation]]
name = "yahoo-tss04"
code = "4*"
text = '\[TSS04\]'
action = "suspend"
duration = "15m"
ramp_from = "1/s"

# Microsoft: "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited
# due to IP reputation."
[[automation]]
name = "microsoft-rate-limited"
code = "451"
enhanced = "4.7.650"
action = "suspend"
duration = "15m"
ramp_from = "1/s"

# Microsoft: "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please
# contact your Internet service provider since part of their network is on our block
# list (S3150)." The listing is of the sending address and is lifted on request: the
# mail waits (deferred) rather than bouncing, and the destination rests.
[[automation]]
name = "microsoft-s3150-temporary"
code = "5*"
text = '\bS3150\b'
action = "temporary"

[[automation]]
name = "microsoft-s3150-suspend"
code = "5*"
text = '\bS3150\b'
action = "suspend"
duration = "1h"
ramp_from = "1/s"
)toml";

void Take(std::optional<Rate>& into, const std::optional<Rate>& from) {
  if (from.has_value()) into = from;
}
template <typename T>
void Take(std::optional<T>& into, const std::optional<T>& from) {
  if (from.has_value()) into = from;
}

}  // namespace

const char* AutomationActionName(AutomationAction action) {
  return kActionNames[static_cast<size_t>(action)];
}

void ShapeSettings::Override(const ShapeSettings& specific) {
  Take(max_message_rate, specific.max_message_rate);
  Take(max_connection_rate, specific.max_connection_rate);
  Take(connection_limit, specific.connection_limit);
  Take(max_deliveries_per_connection, specific.max_deliveries_per_connection);
  Take(max_recipients_per_transaction, specific.max_recipients_per_transaction);
  Take(retry_initial, specific.retry_initial);
  Take(retry_max, specific.retry_max);
  Take(max_queue_lifetime, specific.max_queue_lifetime);
  Take(tls, specific.tls);
  Take(shared, specific.shared);
}

const std::vector<AutomationRule>& ShapingPolicy::BuiltInRules() {
  static const std::vector<AutomationRule>* const rules = [] {
    absl::StatusOr<ShapingPolicy> parsed = Read(kBuiltInAutomation, "built-in automation", false);
    // Tested to parse; a parse error would leave no built-in rules rather than none working.
    auto* out = new std::vector<AutomationRule>();
    if (parsed.ok()) *out = parsed->automation();
    return out;
  }();
  return *rules;
}

ShapingPolicy::ShapingPolicy() : automation_(BuiltInRules()) {}

size_t ShapingPolicy::built_in_rules() { return BuiltInRules().size(); }

bool GlobMatches(absl::string_view pattern, absl::string_view name) {
  // Iterative, with one backtrack point: linear in practice, never exponential.
  size_t p = 0, n = 0, star = absl::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && absl::ascii_tolower(static_cast<unsigned char>(pattern[p])) ==
                                         absl::ascii_tolower(static_cast<unsigned char>(name[n]))) {
      ++p;
      ++n;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string ShapingPolicy::SiteOf(const std::vector<std::string>& names) const {
  if (sites_.empty()) return "";
  for (const std::string& name : names) {
    const absl::string_view host = absl::StripSuffix(name, ".");
    // Longest first: the first match is the most specific.
    for (const auto& [site, settings] : sites_) {
      if (GlobMatches(absl::StripPrefix(site, "mx:"), host)) return site;
    }
  }
  return "";
}

void ShapingPolicy::OverrideForSource(absl::string_view destination, absl::string_view source,
                                      ShapeSettings* settings) const {
  if (source.empty() || by_source_.empty()) return;
  if (auto it = by_source_.find(absl::StrCat(destination, "/", source)); it != by_source_.end()) {
    settings->Override(it->second);
  }
}

ShapeSettings ShapingPolicy::DomainBudget(absl::string_view domain, absl::string_view source) const {
  ShapeSettings settings = default_;
  if (auto it = domains_.find(domain); it != domains_.end()) settings.Override(it->second);
  OverrideForSource(domain, source, &settings);
  return settings;
}

std::optional<ShapeSettings> ShapingPolicy::SiteBudget(absl::string_view site,
                                                       absl::string_view source) const {
  if (site.empty()) return std::nullopt;
  for (const auto& [name, settings] : sites_) {
    if (name != site) continue;
    ShapeSettings budget = settings;
    OverrideForSource(site, source, &budget);
    return budget;
  }
  return std::nullopt;
}

ShapeSettings ShapingPolicy::SettingsFor(absl::string_view domain, absl::string_view site,
                                         absl::string_view source) const {
  ShapeSettings settings = default_;
  if (const std::optional<ShapeSettings> s = SiteBudget(site, source); s.has_value()) settings.Override(*s);
  if (auto it = domains_.find(domain); it != domains_.end()) settings.Override(it->second);
  OverrideForSource(domain, source, &settings);
  return settings;
}

}  // namespace ringpost::queue
