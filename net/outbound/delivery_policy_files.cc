#include "net/outbound/delivery_policy_files.h"

#include <malloc.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ringpost::net {
namespace {

absl::Status ReadWhole(const std::string& flag, const std::string& path, size_t bytes_max, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  if (text.str().size() > bytes_max) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is over ", bytes_max >> 20, " MiB"));
  }
  *out = text.str();
  return absl::OkStatus();
}

}  // namespace

DeliveryPolicyFiles::DeliveryPolicyFiles(std::string shaping_path, std::string bounce_rules_path)
    : shaping_path_(std::move(shaping_path)), bounce_rules_path_(std::move(bounce_rules_path)) {
  auto first = std::make_shared<Snapshot>();
  first->shaping = std::make_shared<const queue::ShapingPolicy>();
  first->bounce_rules = std::make_shared<const queue::BounceRules>();
  snapshot_.store(std::move(first));
}

absl::Status DeliveryPolicyFiles::Load() {
  const std::lock_guard<std::mutex> one_at_a_time(loading_);
  const std::shared_ptr<const Snapshot> old = Get();
  auto next = std::make_shared<Snapshot>(*old);
  absl::Status status;
  bool changed = false;
  // Reads `path` (if set) with `parse`, which returns a StatusOr of the policy; on
  // success, `*into` holds it.
  auto load = [&](const char* flag, const std::string& path, size_t bytes_max, auto parse, auto* into) {
    if (path.empty()) return;
    std::string text;
    absl::Status read = ReadWhole(flag, path, bytes_max, &text);
    if (read.ok()) {
      auto parsed = parse(text, path);
      if (parsed.ok()) {
        *into = std::make_shared<const typename decltype(parsed)::value_type>(*std::move(parsed));
        changed = true;
      } else {
        read = absl::InvalidArgumentError(absl::StrCat(flag, ": ", parsed.status().message()));
      }
    }
    status.Update(read);
  };
  load("--shaping", shaping_path_, queue::ShapingPolicy::kFileBytesMax, &queue::ShapingPolicy::Parse,
       &next->shaping);
  load("--bounce_rules", bounce_rules_path_, 1u << 20, &queue::BounceRules::WithFile, &next->bounce_rules);
  if (changed) {
    next->generation = old->generation + 1;
    snapshot_.store(std::move(next), std::memory_order_release);
  }
  // A large file's parse tree (100,000 destinations: over 100 MiB at its peak) is freed
  // by now; without this glibc keeps most of it.
  malloc_trim(0);
  return status;
}

}  // namespace ringpost::net
