// Fuzz target: a --bounce_rules file and the replies it classifies. Never a crash, and
// a file that reads keeps every built-in rule after its own.
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "queue/schedule/bounce_class.h"

using ringpost::queue::BounceRules;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const absl::string_view file = input.substr(0, split);
  const absl::string_view reply =
      split == absl::string_view::npos ? absl::string_view() : input.substr(split + 1);
  auto rules = BounceRules::WithFile(file, "fuzz");
  const BounceRules built_in;
  const BounceRules& use = rules.ok() ? *rules : built_in;
  if (rules.ok()) RP_CHECK_GE(rules->size(), BounceRules::built_in_size());
  const int code = reply.size() >= 3 ? (reply[0] - '0') * 100 + (reply[1] - '0') * 10 + (reply[2] - '0') : 0;
  const absl::string_view status = reply.substr(0, std::min<size_t>(reply.size(), 8));
  const auto bounce_class = use.Classify(code, status, reply);
  RP_CHECK_LT(static_cast<size_t>(bounce_class), ringpost::queue::kBounceClassCount);
  return 0;
}
