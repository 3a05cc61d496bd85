// Start-up recovery of the whole spool (DESIGN.md, The log).
//
// Scans every SPOOL/shard-K folder (whatever --shards is now), every segment in number
// order, verifying CRCs, generations and sequences, and rebuilds the live messages with
// each recipient's state. Runs on the main thread before the shards start.
//  - An unsealed segment (one a crash interrupted) that stops early has a torn tail:
//    the file is cut at its last good record (after a power loss the tail may hold
//    stale but valid-looking records of an older generation; they never match).
//  - A sealed segment that stops early is corrupt: it moves to SPOOL/quarantine/ (never
//    deleted, logged), and the messages before the bad record are still recovered.
//  - A segment without a valid header (created just before a crash) held nothing
//    acknowledged: an empty file is removed, any other is moved aside unread as
//    "unwritten". Files moved aside are never overwritten or deleted.
//  - A reused file whose new header never landed (it still names the older segment it
//    was) held nothing of the new segment either: it goes back to the reuse pool.
// Every queue id found is returned so new ids never collide with old ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "queue/log_reader.h"
#include "queue/record.h"

namespace ringpost::queue {

struct RecipientState {
  bool final = false;  // delivered, bounced, expired, deleted or relocated
  bool held = false;   // an operator holds the message: not attempted until released
  Outcome last_outcome = Outcome::kDeferred;
  uint32_t attempts = 0;
  uint64_t next_attempt_unix_micros = 0;  // 0: as soon as possible
};

// The in-memory index entry of a live message: small on purpose (a million queued
// messages cost tens of MiB, not gigabytes). The envelope and body stay in the log and
// are read back with ReadEnvelope / ReadBody when delivery needs them.
struct RecoveredMessage {
  std::string queue_id;  // 15 characters (13 in older spools): stored inline, no allocation
  uint32_t shard = 0;
  uint32_t segment = 0;  // index into RecoveredQueue::segments
  uint64_t commit_offset = 0;
  uint64_t body_bytes = 0;
  absl::InlinedVector<RecipientState, 1> recipients;
  // Segments of other shards' folders holding results that decided a recipient's state
  // (a spool written when results went to the delivering shard's log, or a folder no
  // running shard owns). Each one counts the message as live (RecoveredSegment::live),
  // so it stays until the message is finished; indexes into RecoveredQueue::segments.
  absl::InlinedVector<uint32_t, 1> result_segments;
};

struct RecoveryReport {
  uint64_t segments = 0;
  uint64_t sealed_segments = 0;
  uint64_t torn_tails = 0;
  uint64_t torn_bytes_cut = 0;
  uint64_t quarantined = 0;         // sealed segments found corrupt, moved to SPOOL/quarantine
  uint64_t unwritten_segments = 0;  // segments without a valid header (moved aside, or removed if empty)
  uint64_t recycled_unused = 0;     // reused files whose new header never landed: back to the pool
  uint64_t messages_committed = 0;
  uint64_t messages_finished = 0;
  uint64_t messages_relocated = 0;  // older copies superseded by compaction
  uint64_t results = 0;
  uint64_t bytes_scanned = 0;
};

struct RecoveredSegment {
  uint32_t shard = 0;
  uint32_t number = 0;
  std::string path;          // where it is now (quarantine moves it)
  bool quarantined = false;  // moved aside: never deleted, owned by nobody
  uint32_t live = 0;         // live messages in it, or with results in it (result_segments)
};

struct RecoveredQueue {
  std::vector<RecoveredSegment> segments;  // every segment scanned, in (shard, number) order
  std::vector<RecoveredMessage> live;      // at least one recipient not final
  std::vector<std::string> queue_ids;      // every id seen, live or finished
  std::vector<ControlRecord> controls;     // the newest standing order per domain
  RecoveryReport report;
};

absl::StatusOr<RecoveredQueue> RecoverSpool(const std::string& spool_dir);

}  // namespace ringpost::queue
