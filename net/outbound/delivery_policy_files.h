// The delivery policy files a SIGHUP re-reads: the shaping file (--shaping, TOML,
// queue/schedule/shaping.h) and the failure-class rules (--bounce_rules,
// queue/schedule/bounce_class.h). Load reads both (blocking: at start, or on the
// signal's thread) and swaps in what read; a file that does not read keeps its previous
// policy and names itself, its line and key in the error. Each shard's delivery driver
// looks at the generation once a second and hands a new snapshot to its scheduler.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "queue/schedule/bounce_class.h"
#include "queue/schedule/shaping.h"

namespace ringpost::net {

class DeliveryPolicyFiles {
 public:
  struct Snapshot {
    uint64_t generation = 0;                                 // rises with every load that changed something
    std::shared_ptr<const queue::ShapingPolicy> shaping;     // never null (no file: the built-in rules)
    std::shared_ptr<const queue::BounceRules> bounce_rules;  // never null
  };

  // Empty paths: that policy is the built-in one.
  DeliveryPolicyFiles(std::string shaping_path, std::string bounce_rules_path);
  DeliveryPolicyFiles(const DeliveryPolicyFiles&) = delete;
  DeliveryPolicyFiles& operator=(const DeliveryPolicyFiles&) = delete;

  // Reads the files; the first error is returned (one line: "--shaping: FILE:LINE: KEY:
  // problem"), and whatever read is in force. One load at a time (a SIGHUP's runs on a
  // thread of its own); the memory the parser used goes back to the system.
  absl::Status Load();
  std::shared_ptr<const Snapshot> Get() const { return snapshot_.load(std::memory_order_acquire); }
  const std::string& shaping_path() const { return shaping_path_; }
  const std::string& bounce_rules_path() const { return bounce_rules_path_; }

 private:
  const std::string shaping_path_;
  const std::string bounce_rules_path_;
  std::mutex loading_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace ringpost::net
