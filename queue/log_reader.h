// Reading messages back from the log: the reader API that delivery, compaction and
// ringpost-queue use. A message's envelope comes from its commit record, its body from
// the body records the envelope names; both verify the CRC of every record they read
// and return DataLoss when one does not match. Plain preads (the page cache usually
// holds a young message): one for a commit record of up to 4 KiB, one per body record.
// Delivery keeps the segment files its jobs read open (SegmentFiles): opening and
// closing a file per message cost ~9% of a relaying shard's CPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "queue/record.h"

namespace ringpost::queue {

absl::StatusOr<Envelope> ReadEnvelope(const std::string& segment_path, uint64_t commit_offset);
absl::StatusOr<std::string> ReadBody(const std::string& segment_path, const Envelope& envelope);
// The same on an open segment file (`segment_path` only names it in errors).
absl::StatusOr<Envelope> ReadEnvelopeAt(int fd, const std::string& segment_path, uint64_t commit_offset);
absl::StatusOr<std::string> ReadBodyAt(int fd, const std::string& segment_path, const Envelope& envelope);
// The same into `body`, whose memory is reused: a buffer that held a body at least as
// long is neither reallocated nor zero-filled again (the read overwrites it anyway).
absl::Status ReadBodyInto(int fd, const std::string& segment_path, const BodyLocation& location,
                          std::string* body);

// Read-only descriptors of the segment files a thread's live jobs read from, counted
// by path: Acquire when a job that reads `path` arrives, Release when it is done; the
// file is opened on first read and closed with its last user, so a deleted segment's
// space is never held. (A live message pins its segment: a path in use always names
// the same file.)
class SegmentFiles {
 public:
  SegmentFiles() = default;
  ~SegmentFiles();
  SegmentFiles(const SegmentFiles&) = delete;
  SegmentFiles& operator=(const SegmentFiles&) = delete;
  void Acquire(const std::string& segment_path);
  void Release(const std::string& segment_path);
  // Precondition: acquired.
  absl::StatusOr<int> Open(const std::string& segment_path);
  size_t open_files() const;

 private:
  struct File {
    int fd = -1;
    uint32_t users = 0;
  };
  absl::flat_hash_map<std::string, File> files_;
};

// Reads message bodies for delivery on one shard: the segment files its live jobs
// read (SegmentFiles), and a few body buffers (4 KiB at least, so small bodies' are
// kept too) for the next reads, which then neither allocate nor zero-fill (a body at
// least as long was there before).
class BodyReader {
 public:
  SegmentFiles& files() { return files_; }
  // Reads the body at `location` of the segment at `path` (acquired) into `body`,
  // which comes from the spare buffers when it is empty.
  absl::Status Read(const std::string& path, const BodyLocation& location, std::string* body);
  // Gives `body` a buffer for a body of `bytes` (a spare one, or a new one of at least
  // kSpareBodyBytesMin), unless it has one that large already: for a body copied into it
  // some other way (from the log writer's recent writes).
  void TakeSpare(size_t bytes, std::string* body);
  // Hands a body buffer back: a few of ordinary sizes are kept, a huge one's memory
  // goes back at once.
  void Recycle(std::string* body);

 private:
  static constexpr size_t kSpareBodies = 16, kSpareBodyBytesMin = 4096, kSpareBodyBytesMax = 1 << 20;
  SegmentFiles files_;
  std::vector<std::string> spare_;
};

}  // namespace ringpost::queue
