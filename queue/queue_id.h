// Queue ids: short, printable, unique across shards and restarts.
//
// 13 characters of Crockford base32 (0-9, A-Z without I L O U) over 64 bits:
// seconds since the Unix epoch (34 bits) | shard (10 bits) | per-second counter
// (20 bits). The shard field keeps shards apart; the seconds field keeps restarts
// apart, because a generator never issues a second at or below one it has seen:
// recovery feeds every id found in the log to Observe(), and a counter that runs out
// inside one second borrows the next second. Ids sort by issue time within a shard.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::queue {

inline constexpr size_t kQueueIdChars = 13;

class QueueIdGenerator {
 public:
  explicit QueueIdGenerator(uint32_t shard);

  // Never returns the same id twice, nor one that Observe() saw.
  std::string Next(uint64_t now_unix_seconds);
  // An id that exists already (found by recovery).
  void Observe(absl::string_view id);

 private:
  uint32_t shard_;
  uint64_t seconds_ = 0;  // of the last id issued or observed
  uint32_t counter_ = 0;  // next counter within seconds_
};

// Formats and parses the 64-bit value (exposed for tests and ringpost-queue).
std::string FormatQueueId(uint64_t value);
bool ParseQueueId(absl::string_view id, uint64_t* value);

}  // namespace ringpost::queue
