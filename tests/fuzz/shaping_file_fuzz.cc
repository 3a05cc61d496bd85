// Fuzz target: a --shaping file (TOML) and a reply its rules are matched against. Never a
// crash or an exception out of the parser; a file that reads answers every question
// about its scopes, and its rates parse back from what they print.
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "queue/schedule/shaping.h"

using ringpost::queue::Rate;
using ringpost::queue::ReplyPattern;
using ringpost::queue::ShapingPolicy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return 0;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const absl::string_view file = input.substr(0, split);
  const absl::string_view reply =
      split == absl::string_view::npos ? absl::string_view() : input.substr(split + 1);
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(file, "fuzz.toml");
  if (!policy.ok()) {
    RP_CHECK(!policy.status().message().empty());
    return 0;
  }
  const std::string site = policy->SiteOf({std::string(reply), "mx.example.com", "aspmx.l.google.com"});
  const auto settings = policy->SettingsFor("example.com", site);
  for (const auto& rate : {settings.max_message_rate, settings.max_connection_rate}) {
    if (rate.has_value()) RP_CHECK(Rate::Parse(rate->ToString()).ok());
  }
  const int code = reply.size() >= 3 ? (reply[0] - '0') * 100 + (reply[1] - '0') * 10 + (reply[2] - '0') : 0;
  const ReplyPattern::Reply parsed(code, reply.substr(0, std::min<size_t>(reply.size(), 8)), reply);
  size_t matched = 0;
  for (const auto& rule : policy->automation()) matched += rule.pattern.Matches(parsed) ? 1 : 0;
  RP_CHECK_LE(matched, policy->automation().size());
  return 0;
}
