// The write side of one shard's queue log: segments, group commit, durability notices.
//
// Owned by one shard; completions arrive as kFileWrite / kFileSync through the shard's
// ring (this is their sink). Message bytes take one staging copy (into the segment's
// pending buffer) and go to the file with one write per loop turn at most (a turn hook
// submits what the turn staged; each buffered write costs an io-wq hand-off in the
// kernel, so fewer, larger writes save CPU; each write and sync in flight holds the
// shard, so a stop waits for them); a shard never blocks on the disk except to
// create the head segments' files (both at once, with one directory fsync, once per
// segment_bytes_max).
//
// Invariants (DESIGN.md, Durable before 250):
//  - per segment at most one write is in flight, and per shard at most one fdatasync
//    (which the heads take in turns, see below);
//  - a commit record is appended only after every byte of its body was written in
//    full (a short write is an error, never retried);
//  - a caller hears "durable" only when an fdatasync issued after its commit record
//    was written in full has completed, and, for a new segment, after the directory
//    entry was synced;
//  - a failed write or sync acknowledges nothing: every waiter of that segment hears
//    the error, the segment is sealed and never written again, new messages go to a
//    fresh segment.
// Records in a segment carry the segment's generation (a per-run salt plus its number)
// and sequence numbers 1, 2, 3... (so a reused file's stale tail and a lost record both
// show).
// A message lives in the segment it started in. The heads roll when a message, result
// or copy is about to start in a full head, or a head failed.
//
// Only one fdatasync per shard runs at a time (a retiring segment's seal waits its
// turn): each ends in a flush of the whole device, so two at once would finish together.
//
// Two head segments may take new messages (LogWriterOptions::heads). Producers that each
// wait for their own durable notice move in lockstep: with one head the disk idles
// while the whole group stages and writes into the page cache, then the shard idles
// while the disk syncs. With two, the heads take turns at the sync and one group writes
// while the other's sync runs: a message starts in the newest head while it holds
// under 1 MiB not yet durable (small messages gather there: staging them takes a
// fraction of a sync, and split, each sync would cover half of them), else in the head
// that can take it soonest (no sync in flight, fewer bytes waiting). Measured in
// bench/log_benchmark.cc (BM_Log_Commit100KiBVersusBuffered) and docs/ARCHITECTURE.md.
// With two heads, a new head's header is synced at once, so a crash cannot leave a
// reused file under a new name with its old header (recovery would set it aside). Delivery results and
// compaction copies go to the newest head: a record that finishes a message must sit
// in a segment no older than the message's (reclamation deletes oldest first), and a
// copy must be newer than its original (recovery keeps the newest). The heads roll
// together (all or none), so every sealed segment is older than both.
//
// Back-of-envelope budget (PEERS.md): fdatasync ~150 µs → ~6k syncs/s per shard; at
// 64 concurrent 1 KB producers a sync covers ~8-30 commits → 45k+ commits/s, one
// write syscall per batch, no per-message syscall.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/shard.h"
#include "queue/recent_writes.h"
#include "queue/record.h"
#include "queue/segment_ledger.h"

namespace ringpost::queue {

struct LogWriterOptions {
  std::string shard_dir;  // SPOOL/shard-K, created if missing
  uint32_t shard = 0;
  uint64_t segment_bytes_max = 64ull << 20;    // roll when a record would start in a head past this
  uint32_t body_chunk_bytes_max = 256 * 1024;  // bigger bodies become several records
  bool fsync = true;                           // false: benchmarks only, UNSAFE
  // New messages, and new body bytes of messages under way, are refused
  // (ResourceExhausted → 452 4.3.1) once they would take the spool's file system below
  // this much free space, so delivery results, compaction and reclamation can still
  // write. Reusable segment files count as free (they are deleted when space is short).
  // The file system is looked at most every 100 ms.
  uint64_t free_space_reserve_bytes = 0;
  // Finished segment files kept for reuse instead of deleted: overwriting blocks that
  // were written and synced before needs no allocation in fdatasync (measured here:
  // ~1.7x the append rate, see bench/log_benchmark.cc). 0 turns recycling off.
  uint32_t recycled_files_max = 4;
  // Segments taking new messages at once (see above), 1 or 2 (--log_heads). Two help
  // when the disk is the limit (100 KiB commits, fresh spool: ~1.25x here); they cost
  // CPU end to end (~10% per 100 KB relayed message here, where the MTA is CPU-bound).
  uint32_t heads = 1;
};

// Test-only fault injection and observation (compiled into every build, inert unless
// a test passes one to Start(); the daemon never does).
struct LogFaults {
  int fail_write_after = -1;   // the Nth write completes with `write_errno` (-1: never)
  int write_errno = 0;         // e.g. ENOSPC, EIO
  int short_write_after = -1;  // the Nth write reports one byte less than asked
  int fail_sync_after = -1;    // the Nth sync completes with -EIO
  int fail_create_after = -1;  // the Nth segment file creation fails with ENOSPC

  // Ground truth for power-loss tests, kept from the operations themselves rather than
  // from the writer's bookkeeping: per file, the bytes that completed writes put
  // there, and the prefix that a completed fdatasync covers (what survives a power cut).
  struct FileShadow {
    uint64_t write_offset = 0, write_bytes = 0;  // the write in flight
    uint64_t written = 0;                        // contiguous prefix written in full
    uint64_t sync_covers = 0;                    // `written` when the sync in flight was issued
    uint64_t durable = 0;
  };
  std::map<std::string, FileShadow> shadow;  // by segment path
  int syncs_in_flight_peak = 0;              // across segments (at most one, NextToSync)
};

using DurableCallback = std::function<void(const absl::Status& status)>;

// Where a committed message lives: its segment and the offset of its commit record.
struct MessageLocation {
  uint32_t segment = 0;
  uint64_t commit_offset = 0;
};
using CommitCallback = std::function<void(const absl::Status& status, const MessageLocation& location)>;

class LogWriter final : public core::CompletionSink {
 public:
  LogWriter(core::Shard& shard, const LogWriterOptions& options);
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Creates the head segments, numbered after every segment already in the folder.
  absl::Status Start(LogFaults* faults = nullptr);

  // A message in progress. Body bytes are staged at once; Commit() makes it exist.
  // ResourceExhausted when the free-space reserve is reached.
  absl::StatusOr<uint64_t> BeginMessage();
  // Copies `bytes` into the log. Fails (and the message is dead) if its segment failed.
  absl::Status AppendBody(uint64_t message, absl::string_view bytes);
  // The same for bytes in pieces (the views a DATA reader emitted from one receive
  // buffer): one record per body_chunk_bytes_max, one copy, however many pieces.
  // ResourceExhausted once a message has kMessageExtentsMax records (its commit record
  // names each one): callers gather small pieces (the SMTP engine keeps 16 KiB).
  absl::Status AppendBodyParts(uint64_t message, absl::Span<const absl::string_view> pieces);
  static constexpr size_t kMessageExtentsMax = 16384;
  // The same for bytes that go before everything appended so far (header fields made
  // once the body is known, such as a DKIM-Signature): written after them, listed
  // first in the commit record, so a reader meets them first.
  absl::Status PrependBody(uint64_t message, absl::string_view bytes);
  // Writes the commit record once the body is written, then calls `done` when it is
  // durable (or with the error that keeps it from being so). `envelope.body` and
  // `body_bytes` are filled in here.
  // `done` never runs inside the call: a failure known at once is reported at the end
  // of the loop turn.
  void Commit(uint64_t message, Envelope envelope, CommitCallback done);
  void Commit(uint64_t message, Envelope envelope, DurableCallback done);
  // The same, leaving the envelope with the caller: the writer fills in the body's
  // location (message_ref, body, body_bytes), so the caller knows where it is.
  void Commit(uint64_t message, Envelope* envelope, CommitCallback done);
  // A message copied by compaction (queue/log_compaction.h): in the newest head, so it
  // is newer than its original, and not refused by the free-space reserve (compaction
  // is how space comes back).
  absl::StatusOr<uint64_t> BeginCopy() { return BeginMessageUnchecked(/*newest=*/true); }
  // Forgets a message (client gone, message refused): without a commit it never existed.
  void Abort(uint64_t message);
  // A delivery result record; `done` when durable (never inside the call).
  void AppendResult(const DeliveryResult& result, DurableCallback done);
  // An operator's standing order (a destination suspended or resumed); `done` when
  // durable. The orders in force (`standing_orders` answers which) are written again
  // into every new head segment, and no segment is deleted until that copy is durable,
  // so reclamation never loses one.
  void AppendControl(const ControlRecord& record, DurableCallback done);
  // `done` once every record appended so far is durable (an error if a segment holding
  // one failed); never inside the call. For replies that promise durability (an
  // operator's command).
  void WhenDurable(DurableCallback done);
  void set_standing_orders(std::function<std::vector<ControlRecord>()> standing_orders) {
    standing_orders_ = std::move(standing_orders);
  }

  // Reclamation (SegmentLedger). This shard owns its segments: each committed message
  // pins its segment until MessageFinished() (the delivering shard's "done" notice,
  // sent once the final results are durable). Recovered segments are handed over with
  // their live counts.
  void AdoptRecovered(uint32_t segment, const std::string& path, uint32_t live_messages);
  void MessageFinished(uint32_t segment);
  size_t segment_files() const { return ledger_.files(); }
  // The file of one of this shard's segments (a MessageLocation's), for readers on
  // other shards: it stays there while a message in it is live. Empty if unknown.
  std::string SegmentPath(uint32_t segment) const { return ledger_.PathOf(segment); }
  // This shard's newest writes, still in memory: a body committed in this run and
  // delivered soon after is copied from here (RecentWrites::CopyBody) rather than read
  // back from `segment`. Only this shard's thread may look.
  const RecentWrites& recent_writes() const { return recent_writes_; }
  // Bytes staged or being written, not yet written in full: what a slow disk makes pile
  // up in memory. Writers of message data pause above a bound (back-pressure).
  uint64_t staged_bytes() const;

  void OnCompletion(const core::Completion& completion) override;

  struct Stats {
    uint64_t writes = 0, write_bytes = 0, syncs = 0, commits = 0, segments_created = 0, failures = 0,
             segments_deleted = 0, segments_recycled = 0;
  };
  Stats stats() const;

 private:
  struct Segment;
  struct OpenMessage {
    Segment* segment = nullptr;
    std::vector<BodyExtent> extents;
    uint64_t body_bytes = 0;
    uint64_t body_end = 0;  // file offset just past its last staged body record
    bool copy = false;      // compaction's: not held to the free-space reserve
  };

  // `newest`: in the newest head (compaction copies), else in the head that can take
  // it soonest.
  absl::StatusOr<uint64_t> BeginMessageUnchecked(bool newest);
  absl::StatusOr<std::unique_ptr<Segment>> CreateSegmentFile();  // its header staged
  absl::Status RollHeads();  // every head is replaced by a new segment, or none
  // A file CreateSegmentFile took for a segment that will not be used.
  void DiscardUnusedFile(const Segment& s);
  Segment& NewestHead();
  Segment& HeadForMessage();
  // The head to write into (`newest`: results and compaction copies; else the one
  // HeadForMessage picks), after rolling the heads if it is full or one failed.
  Segment& UsableHead(bool newest);
  void AppendRecordTo(Segment& s, RecordType type, absl::string_view payload);
  void Kick(Segment& s);     // asks for KickNow at the end of this loop turn
  void KickNow(Segment& s);  // submits the pending write (without fsync: releases what is written)
  void OnTurn();             // kicks every segment, then the sync whose turn it is
  void SubmitWrite(Segment& s);
  void SubmitSync(Segment& s);
  bool SyncDue(const Segment& s) const;
  Segment* NextToSync();  // the segment whose turn it is, if the sync slot is free
  void OnWrite(Segment& s, int32_t result);
  void OnSync(Segment& s, int32_t result);
  void ReleaseParkedCommits(Segment& s);
  void ReleaseDurable(Segment& s);
  void FailSegment(Segment& s, const absl::Status& status);
  void FailLater(CommitCallback done, const absl::Status& status);
  void AppendSmall(RecordType type, absl::string_view payload, DurableCallback done);
  void CarryStandingOrders(Segment& head);
  std::function<std::vector<ControlRecord>()> standing_orders_;
  uint64_t carries_ = 0;  // the latest carry of the standing orders releases deletion
  void MaybeRetire(Segment& s);

  core::Shard& shard_;
  const LogWriterOptions options_;
  LogFaults* faults_ = nullptr;
  int dir_fd_ = -1;
  uint32_t next_number_ = 1;
  std::vector<std::unique_ptr<Segment>> segments_;  // active ones: the heads, and older ones finishing
  std::vector<Segment*> heads_;                     // one per lane, in segments_
  absl::flat_hash_map<uint64_t, OpenMessage> open_;
  SegmentLedger ledger_;          // every segment file of this shard, and the reuse pool
  uint32_t generation_salt_ = 0;  // generations differ across runs too
  uint64_t next_message_ = 1;
  absl::Status CheckFreeSpace();
  void RefreshFreeSpace();
  absl::Status ChargeBody(uint64_t bytes);
  core::MonoNanos free_space_checked_at_ = 0;
  bool free_space_low_ = false;
  uint64_t body_budget_bytes_ = 0;         // what new bodies may still take above the reserve
  core::MonoNanos failure_rolled_at_ = 0;  // the last roll that replaced a failed head
  bool kick_wanted_ = false;
  uint64_t turn_hook_ran_ = 0;        // the shard turn in which OnTurn last ran
  int syncs_in_flight_ = 0;           // across segments: at most one (NextToSync)
  uint32_t last_synced_segment_ = 0;  // the next sync goes to a segment after it
  int writes_seen_ = 0;
  int syncs_seen_ = 0;
  // The buffer ReleaseDurable moves a sync's waiters into, kept for the next sync: one
  // sync releases a commit per waiting session, hundreds at a time.
  struct DurableWaiters;
  std::unique_ptr<DurableWaiters> durable_spare_;
  // The staging and write buffers of closed segments, for the next ones: a head's
  // buffers grow to what a sync's wait stages (megabytes of large mail), and growing
  // them again from nothing for every segment copies their bytes over and over.
  std::vector<std::string> spare_buffers_;
  // Written buffers kept for delivery's reads, each until it is the oldest past the
  // bound and becomes a write buffer again.
  RecentWrites recent_writes_;
  Stats stats_;
};

}  // namespace ringpost::queue
