// ShapingPolicy::Parse: the shaping file (TOML, read with toml11) into a ShapingPolicy.
// Every key is known or an error; an error is one line naming the file, the line and
// the key.
#include <sstream>
#include <string>

#include <toml.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/domain_name.h"
#include "core/duration_flag.h"
#include "core/utf8.h"
#include "queue/schedule/shaping.h"

namespace ringpost::queue {

namespace {

#define RP_TRY(expr)                                \
  do {                                              \
    if (absl::Status s = (expr); !s.ok()) return s; \
  } while (0)

}  // namespace

using TomlValue = toml::basic_value<toml::discard_comments, std::map, std::vector>;

class ShapingFileReader {
 public:
  explicit ShapingFileReader(absl::string_view path) : path_(path) {}

  absl::StatusOr<ShapingPolicy> Read(absl::string_view text, bool built_in_rules) {
    if (text.size() > ShapingPolicy::kFileBytesMax) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": over 64 MiB"));
    }
    // TOML is UTF-8 (toml.io); toml11 3.7 reads out of bounds when it reports a bad
    // sequence inside a string, so such a file never reaches it.
    for (size_t i = 0, line = 1; i < text.size();) {
      const size_t length =
          static_cast<unsigned char>(text[i]) < 0x80 ? 1 : core::Utf8SequenceLength(text, i);
      if (length == 0) {
        return absl::InvalidArgumentError(absl::StrCat(path_, ":", line, ": not UTF-8 (byte ", i + 1, ")"));
      }
      line += text[i] == '\n' ? 1 : 0;
      i += length;
    }
    TomlValue root;
    try {
      std::istringstream in{std::string(text)};
      root = toml::parse<toml::discard_comments, std::map, std::vector>(in, path_);
    } catch (const toml::exception& e) {
      // toml11's message spans lines (a picture of the place); its first says what.
      const std::string message = e.what();
      const std::string what(absl::StripPrefix(message.substr(0, message.find('\n')), "[error] "));
      return absl::InvalidArgumentError(absl::StrCat(path_, ":", e.location().line(), ": ", what));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": ", e.what()));
    }
    ShapingPolicy policy{ShapingPolicy::Empty{}};
    bool with_built_in = built_in_rules;
    for (const auto& [key, value] : root.as_table()) {
      if (key == "default") {
        RP_TRY(ReadSettings(value, "default", &policy.default_));
      } else if (key == "destination") {
        RP_TRY(ReadDestinations(value, &policy));
      } else if (key == "automation") {
        if (!value.is_array()) return Error(value, key, "expected [[automation]] tables");
        for (const TomlValue& rule : value.as_array()) {
          if (policy.automation_.size() == ShapingPolicy::kRulesMax) {
            return Error(rule, key, absl::StrCat("over ", ShapingPolicy::kRulesMax, " rules"));
          }
          AutomationRule parsed;
          RP_TRY(ReadRule(rule, &parsed));
          policy.automation_.push_back(std::move(parsed));
        }
      } else if (key == "builtin_automation") {
        if (!value.is_boolean()) return Error(value, key, "expected true or false");
        with_built_in = with_built_in && value.as_boolean();
      } else {
        return Error(value, key, "unknown key (default, destination, automation, builtin_automation)");
      }
    }
    std::sort(policy.sites_.begin(), policy.sites_.end(), [](const auto& a, const auto& b) {
      return a.first.size() != b.first.size() ? a.first.size() > b.first.size() : a.first < b.first;
    });
    if (with_built_in) {
      const std::vector<AutomationRule>& built_in = ShapingPolicy::BuiltInRules();
      policy.automation_.insert(policy.automation_.end(), built_in.begin(), built_in.end());
    }
    for (const AutomationRule& rule : policy.automation_) {
      if (!rule.destination.empty() && absl::StartsWith(rule.destination, "mx:") &&
          !policy.SiteBudget(rule.destination).has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": automation rule '", rule.name, "': destination '", rule.destination,
                         "' is not a site of this file (add [destination.\"", rule.destination, "\"])"));
      }
    }
    policy.has_shared_ = shared_seen_;
    return policy;
  }

 private:
  absl::Status Error(const TomlValue& value, absl::string_view key, absl::string_view problem) const {
    const auto line = value.location().line();
    return absl::InvalidArgumentError(line > 0 ? absl::StrCat(path_, ":", line, ": ", key, ": ", problem)
                                               : absl::StrCat(path_, ": ", key, ": ", problem));
  }

  absl::Status ReadDestinations(const TomlValue& value, ShapingPolicy* policy) {
    if (!value.is_table()) return Error(value, "destination", "expected [destination.\"NAME\"] tables");
    for (const auto& [name, settings] : value.as_table()) {
      if (policy->destinations() == ShapingPolicy::kDestinationsMax) {
        return Error(settings, "destination",
                     absl::StrCat("over ", ShapingPolicy::kDestinationsMax, " destinations"));
      }
      const std::string where = absl::StrCat("destination.\"", name, "\"");
      ShapeSettings parsed;
      if (absl::StartsWith(name, "mx:")) {
        const absl::string_view pattern = absl::StripPrefix(name, "mx:");
        if (pattern.empty() || pattern.size() > 253 ||
            pattern.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*") !=
                absl::string_view::npos) {
          return Error(settings, where, "a site is mx: and a host name pattern, like mx:*.google.com");
        }
        const std::string site = absl::AsciiStrToLower(name);
        RP_TRY(ReadSettings(settings, where, &parsed, site, policy));
        policy->sites_.emplace_back(site, std::move(parsed));
        continue;
      }
      const std::string domain = core::CanonicalDomain(name);
      if (!core::IsHostName(domain)) {
        return Error(settings, where, "neither a domain (example.com) nor a site (mx:*.google.com)");
      }
      RP_TRY(ReadSettings(settings, where, &parsed, domain, policy));
      policy->domains_[domain] = std::move(parsed);
    }
    return absl::OkStatus();
  }

  // A destination's [destination."NAME".source."SOURCE"] tables.
  absl::Status ReadSources(const TomlValue& value, absl::string_view where, absl::string_view destination,
                           ShapingPolicy* policy) {
    if (!value.is_table())
      return Error(value, "source", "expected [destination.\"NAME\".source.\"SOURCE\"] tables");
    for (const auto& [source, settings] : value.as_table()) {
      const std::string scope = absl::StrCat(where, ".source.\"", source, "\"");
      if (source.empty() || source.size() > 64 ||
          source.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
              std::string::npos) {
        return Error(settings, scope, "a source is named as in --egress_sources (letters, digits, -_.)");
      }
      ShapeSettings parsed;
      RP_TRY(ReadSettings(settings, scope, &parsed));
      policy->by_source_[absl::StrCat(destination, "/", source)] = std::move(parsed);
    }
    return absl::OkStatus();
  }

  // `destination` and `policy`: a destination's table, which may hold source scopes.
  absl::Status ReadSettings(const TomlValue& value, absl::string_view where, ShapeSettings* out,
                            absl::string_view destination = "", ShapingPolicy* policy = nullptr) {
    if (!value.is_table()) return Error(value, where, "expected a table of settings");
    for (const auto& [key, v] : value.as_table()) {
      if (key == "source" && policy != nullptr) {
        RP_TRY(ReadSources(v, where, destination, policy));
      } else if (key == "max_message_rate") {
        RP_TRY(ReadRate(v, key, &out->max_message_rate.emplace()));
      } else if (key == "max_connection_rate") {
        RP_TRY(ReadRate(v, key, &out->max_connection_rate.emplace()));
      } else if (key == "shared") {
        if (!v.is_boolean()) return Error(v, key, "expected true or false");
        out->shared = v.as_boolean();
        if (v.as_boolean()) shared_seen_ = true;
      } else if (key == "connection_limit") {
        RP_TRY(ReadCount(v, key, 0, 100000, &out->connection_limit.emplace()));
      } else if (key == "max_deliveries_per_connection") {
        RP_TRY(ReadCount(v, key, 1, 1000000, &out->max_deliveries_per_connection.emplace()));
      } else if (key == "max_recipients_per_transaction") {
        RP_TRY(ReadCount(v, key, 1, 2000, &out->max_recipients_per_transaction.emplace()));
      } else if (key == "retry_initial") {
        RP_TRY(ReadDuration(v, key, &out->retry_initial.emplace()));
      } else if (key == "retry_max") {
        RP_TRY(ReadDuration(v, key, &out->retry_max.emplace()));
      } else if (key == "max_queue_lifetime") {
        RP_TRY(ReadDuration(v, key, &out->max_queue_lifetime.emplace()));
      } else if (key == "tls") {
        const std::string mode = v.is_string() ? v.as_string().str : "";
        if (mode == "none") {
          out->tls = TlsMode::kNone;
        } else if (mode == "opportunistic") {
          out->tls = TlsMode::kOpportunistic;
        } else if (mode == "required") {
          out->tls = TlsMode::kRequired;
        } else {
          return Error(v, key, "expected \"none\", \"opportunistic\" or \"required\"");
        }
      } else {
        return Error(
            v, key,
            absl::StrCat("unknown key in ", where,
                         " (max_message_rate, shared, max_connection_rate, connection_limit, "
                         "max_deliveries_per_connection, max_recipients_per_transaction, retry_initial, "
                         "retry_max, max_queue_lifetime, tls)"));
      }
    }
    if (out->retry_initial.has_value() && *out->retry_initial <= absl::ZeroDuration()) {
      return Error(value, absl::StrCat(where, ".retry_initial"), "must be positive");
    }
    if (out->retry_initial.has_value() && out->retry_max.has_value() &&
        *out->retry_max < *out->retry_initial) {
      return Error(value, absl::StrCat(where, ".retry_max"), "must be at least retry_initial");
    }
    return absl::OkStatus();
  }

  absl::Status ReadRule(const TomlValue& value, AutomationRule* rule) {
    if (!value.is_table()) return Error(value, "automation", "expected [[automation]] tables");
    std::string code = "*", enhanced = "*", text;
    bool has_action = false;
    for (const auto& [key, v] : value.as_table()) {
      if (key == "name") {
        if (!v.is_string() || v.as_string().str.empty() || v.as_string().str.size() > 100) {
          return Error(v, key, "expected a name (1 to 100 characters)");
        }
        rule->name = v.as_string().str;
      } else if (key == "destination") {
        const std::string d = v.is_string() ? v.as_string().str : "";
        const std::string canonical =
            absl::StartsWith(d, "mx:") ? absl::AsciiStrToLower(d) : core::CanonicalDomain(d);
        if (!absl::StartsWith(canonical, "mx:") && !core::IsHostName(canonical)) {
          return Error(v, key, "expected a domain or a site (mx:PATTERN)");
        }
        rule->destination = canonical;
      } else if (key == "every_source") {
        if (!v.is_boolean()) return Error(v, key, "expected true or false");
        rule->every_source = v.as_boolean();
      } else if (key == "code") {
        if (v.is_integer()) {
          code = absl::StrCat(v.as_integer());
        } else if (v.is_string()) {
          code = v.as_string().str;
        } else {
          return Error(v, key, "expected a reply code (421, \"4*\", \"*\")");
        }
      } else if (key == "enhanced") {
        if (!v.is_string())
          return Error(v, key, "expected an enhanced status code (\"4.7.28\", \"*.7.1\", \"*\")");
        enhanced = v.as_string().str;
      } else if (key == "text") {
        if (!v.is_string()) return Error(v, key, "expected a regular expression (RE2)");
        text = v.as_string().str;
      } else if (key == "threshold") {
        RP_TRY(ReadCount(v, key, 1, ShapingPolicy::kThresholdMax, &rule->threshold));
      } else if (key == "within") {
        RP_TRY(ReadDuration(v, key, &rule->within));
        if (rule->within <= absl::ZeroDuration()) return Error(v, key, "must be positive");
      } else if (key == "action") {
        const std::string action = v.is_string() ? v.as_string().str : "";
        bool known = false;
        for (size_t a = 0; a < kAutomationActionCount; ++a) {
          if (action == AutomationActionName(static_cast<AutomationAction>(a))) {
            rule->action = static_cast<AutomationAction>(a);
            known = true;
          }
        }
        if (!known) {
          return Error(v, key, "expected suspend, set_rate, set_connection_limit, bounce or temporary");
        }
        has_action = true;
      } else if (key == "duration") {
        RP_TRY(ReadDuration(v, key, &rule->duration));
        if (rule->duration <= absl::ZeroDuration()) return Error(v, key, "must be positive");
      } else if (key == "rate") {
        RP_TRY(ReadRate(v, key, &rule->rate));
      } else if (key == "connection_limit") {
        RP_TRY(ReadCount(v, key, 0, 100000, &rule->connection_limit));
      } else if (key == "ramp_from") {
        RP_TRY(ReadRate(v, key, &rule->ramp_from.emplace()));
        if (rule->ramp_from->suspended()) return Error(v, key, "must not be 0");
      } else if (key == "ramp_to") {
        RP_TRY(ReadRate(v, key, &rule->ramp_to.emplace()));
        if (rule->ramp_to->suspended()) return Error(v, key, "must not be 0");
      } else if (key == "ramp_interval") {
        RP_TRY(ReadDuration(v, key, &rule->ramp_interval));
        if (rule->ramp_interval <= absl::ZeroDuration()) return Error(v, key, "must be positive");
      } else {
        return Error(v, key,
                     "unknown key in [[automation]] (name, destination, every_source, code, enhanced, text, "
                     "threshold, "
                     "within, action, duration, rate, connection_limit, ramp_from, ramp_to, ramp_interval)");
      }
    }
    if (rule->name.empty()) return Error(value, "automation", "a rule needs a name");
    const std::string where = absl::StrCat("automation \"", rule->name, "\"");
    if (!has_action) return Error(value, where, "a rule needs an action");
    absl::StatusOr<ReplyPattern> pattern = ReplyPattern::Parse(code, enhanced, text);
    if (!pattern.ok()) return Error(value, where, pattern.status().message());
    rule->pattern = *std::move(pattern);
    const bool timed = rule->action == AutomationAction::kSuspend ||
                       rule->action == AutomationAction::kSetRate ||
                       rule->action == AutomationAction::kSetConnectionLimit;
    if (timed && rule->duration <= absl::ZeroDuration()) {
      return Error(value, where,
                   absl::StrCat("action ", AutomationActionName(rule->action), " needs a duration"));
    }
    if (rule->action == AutomationAction::kSetRate && !value.as_table().count("rate")) {
      return Error(value, where, "action set_rate needs a rate");
    }
    if (rule->action == AutomationAction::kSetConnectionLimit &&
        !value.as_table().count("connection_limit")) {
      return Error(value, where, "action set_connection_limit needs a connection_limit");
    }
    if (rule->action == AutomationAction::kTemporary && code != "*" && !absl::StartsWith(code, "5")) {
      return Error(value, where, "action temporary is for 5xx replies (code \"5*\" or a 5xx code)");
    }
    return absl::OkStatus();
  }

  absl::Status ReadRate(const TomlValue& v, absl::string_view key, Rate* out) {
    if (v.is_integer() && v.as_integer() == 0) {
      *out = Rate{0, absl::Seconds(1)};
      return absl::OkStatus();
    }
    if (!v.is_string()) return Error(v, key, "expected a rate like \"100/s\", \"5000/h\" (0: suspended)");
    absl::StatusOr<Rate> rate = Rate::Parse(v.as_string().str);
    if (!rate.ok()) return Error(v, key, rate.status().message());
    *out = *rate;
    return absl::OkStatus();
  }

  absl::Status ReadCount(const TomlValue& v, absl::string_view key, int64_t low, int64_t high,
                         uint32_t* out) {
    if (!v.is_integer() || v.as_integer() < low || v.as_integer() > high) {
      return Error(v, key, absl::StrCat("expected a whole number from ", low, " to ", high));
    }
    *out = static_cast<uint32_t>(v.as_integer());
    return absl::OkStatus();
  }

  absl::Status ReadDuration(const TomlValue& v, absl::string_view key, absl::Duration* out) {
    if (!v.is_string() || !core::ParseFlagDuration(v.as_string().str, out)) {
      return Error(v, key, "expected a duration like \"30s\", \"10m\", \"4h\", \"5d\"");
    }
    return absl::OkStatus();
  }
#undef RP_TRY

  const std::string path_;
  bool shared_seen_ = false;  // some scope says shared = true
};

absl::StatusOr<ShapingPolicy> ShapingPolicy::Parse(absl::string_view text, absl::string_view path) {
  return Read(text, path, /*built_in_rules=*/true);
}

absl::StatusOr<ShapingPolicy> ShapingPolicy::Read(absl::string_view text, absl::string_view path,
                                                  bool built_in_rules) {
  return ShapingFileReader(path).Read(text, built_in_rules);
}

}  // namespace ringpost::queue
