// Compaction's copies: a live message read back from its segment and committed again
// into the newest head of a shard's log, so that old segments stop pinning the disk.
// A copy goes into the newest head because it must be newer than its original
// (recovery keeps the newest copy of a queue id, and reclamation deletes oldest
// first), and it is not refused by the free-space reserve: compaction is how space
// comes back. Runs on the log's shard.
#pragma once

#include <functional>

#include <cstdint>
#include <string>
#include <vector>

#include "queue/log_writer.h"
#include "queue/record.h"

namespace ringpost::queue {

// Copies a live message of this shard's log (envelope, body, and the recipients'
// delivery state in `recipients`, addresses included) into the newest head under the
// same queue id; once the copy is durable the old one stops pinning its segment.
// `done` hears the new location.
void RelocateMessage(LogWriter& log, uint32_t segment, uint64_t commit_offset,
                     std::vector<Recipient> recipients, CommitCallback done);

// Compaction across shards: copies a committed message from `path` (any shard's
// segment, pinned by the caller) into the newest head of `log` as a new message
// `queue_id` holding only the recipients `picks` names (envelope indexes, in the new
// order) with the delivery state given there. The original is untouched: the caller
// finishes its recipients there (Outcome::kRelocated results) once the copy is durable.
struct RecipientPick {
  uint32_t index = 0;
  uint32_t attempts = 0;
  uint64_t next_attempt_unix_micros = 0;
};
// `done` hears the copy's envelope (its body location filled in) and where it is.
using CopyCallback =
    std::function<void(const absl::Status& status, const Envelope& copy, const MessageLocation& location)>;
void CopyMessage(LogWriter& log, const std::string& path, uint64_t commit_offset, std::string queue_id,
                 const std::vector<RecipientPick>& picks, CopyCallback done);

}  // namespace ringpost::queue
