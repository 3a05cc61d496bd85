// Queue ids: short, printable, unique across shards, restarts and machines.
//
// 15 characters of Crockford base32 (0-9, A-Z without I L O U) over 75 bits: seconds
// since the Unix epoch (34 bits) | shard (8 bits) | per-second counter (20 bits) | node
// (13 bits). The shard field keeps shards apart; the seconds field keeps restarts
// apart, because a generator never issues a second at or below one it has seen:
// recovery feeds every id found in the log to Observe(), and a counter that runs out
// inside one second borrows the next second. The node field keeps machines and spools
// apart (ids end up side by side in logs and tickets): --node_id, or a number drawn
// once per spool and kept in SPOOL/node_id. Ids sort by issue time within a shard, and
// fit a std::string without allocating (15 characters).
//
// Spools written before the node field carry 13-character ids (34 | 10 | 20 bits, no
// node); they are still read, and observed, as such.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::queue {

inline constexpr size_t kQueueIdChars = 15;
inline constexpr uint32_t kQueueIdNodes = 1u << 13;  // node ids are 0 to 8191
inline constexpr uint32_t kQueueIdShards = 1u << 8;

struct QueueIdParts {
  uint64_t seconds = 0;
  uint32_t shard = 0;
  uint32_t counter = 0;
  uint32_t node = 0;
};

class QueueIdGenerator {
 public:
  explicit QueueIdGenerator(uint32_t shard, uint32_t node = 0);

  // Never returns the same id twice, nor one that Observe() saw.
  std::string Next(uint64_t now_unix_seconds);
  // An id that exists already (found by recovery).
  void Observe(absl::string_view id);

 private:
  const uint32_t shard_;
  const uint32_t node_;
  uint64_t seconds_ = 0;  // of the last id issued or observed
  uint32_t counter_ = 0;  // next counter within seconds_
};

// Formats and parses ids (exposed for tests and ringpost-queue). ParseQueueId reads
// both forms (a 13-character id has node 0).
std::string FormatQueueId(const QueueIdParts& parts);
bool ParseQueueId(absl::string_view id, QueueIdParts* parts);

}  // namespace ringpost::queue
