// Reclamation for one shard's queue log: every segment file of the shard, by number,
// with how many live messages pin it, and the pool of finished files kept for reuse.
//
// A segment goes once it is finished writing (sealed, failed, or recovered) and it and
// every older segment hold nothing live: oldest first, and only a whole finished
// prefix, because a newer segment may hold the result records that finished an older
// one's messages (deleting it first would bring those messages back at recovery). Up
// to `recycled_files_max` finished files are renamed NNNNNNNN.free instead of deleted:
// overwriting blocks that were written and synced before needs no allocation in
// fdatasync (bench/log_benchmark.cc).
//
// Owned by the LogWriter, on its shard; no locking.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ringpost::queue {

class SegmentLedger {
 public:
  SegmentLedger(std::string shard_dir, uint32_t recycled_files_max);

  // A NNNNNNNN.free file an earlier run left for reuse.
  void AddFreeFile(std::string path);
  // A finished file to reuse for a new segment (the caller renames it), or "" if none.
  std::string TakeFreeFile();
  // The space the reuse pool holds: free space for the spool's reserve, since it can be
  // given back at once (ReleaseFreeFiles deletes the pool's files).
  uint64_t free_file_bytes() const { return free_file_bytes_; }
  void ReleaseFreeFiles();

  // A new head segment: written to, pinned by nothing yet.
  void AddWriting(uint32_t segment, std::string path);
  // A segment recovery found, with its live messages; it is never written again.
  void Adopt(uint32_t segment, std::string path, uint32_t live_messages);
  // A message in `segment` became durable: it pins the segment until Unpin.
  void Pin(uint32_t segment);
  // The message is finished (every recipient's final result is durable).
  void Unpin(uint32_t segment);
  // The segment is sealed (or failed) and closed: no more records go in.
  void FinishedWriting(uint32_t segment);

  // While paused, nothing is deleted (the writer's standing orders are being carried
  // into a new segment); unpausing deletes what became deletable meanwhile.
  void PauseDeletion(bool paused);

  // The oldest segment still pinned by a live message (0: none).
  uint32_t OldestPinned() const;
  // The file of a segment still here, or "".
  std::string PathOf(uint32_t segment) const;
  size_t files() const { return segments_.size(); }
  uint64_t deleted() const { return deleted_; }  // deleted or kept for reuse

 private:
  struct Entry {
    std::string path;
    uint32_t live = 0;
    bool finished_writing = false;
  };
  void DeleteFinished();

  const std::string shard_dir_;
  const uint32_t recycled_files_max_;
  std::map<uint32_t, Entry> segments_;  // by number: oldest first
  struct FreeFile {
    std::string path;
    uint64_t bytes = 0;
  };
  void KeepFreeFile(std::string path);
  std::vector<FreeFile> free_files_;
  uint64_t free_file_bytes_ = 0;
  bool deletion_paused_ = false;
  uint64_t deleted_ = 0;
};

}  // namespace ringpost::queue
