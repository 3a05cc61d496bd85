// The log's newest writes, kept in memory after they reach the file: a message is
// usually delivered within milliseconds of its commit, while its body's records are
// still in one of these buffers, so its home shard copies them from here instead of
// reading them back from the page cache (a system call per message, about a twentieth
// of a 1 KB relay's CPU). No byte is copied to keep them: a write's buffer is kept
// instead of being emptied for the next write, and the oldest kept buffer is the one
// the next write fills.
//
// Only writes of up to kWriteBytesMax are kept. Large mail makes writes of megabytes,
// whose buffers would then be freed and allocated again (each a fresh mmap, page faults
// and all) instead of staying with their segment; measured, that cost more than the
// reads it saved. A small write in a buffer that grew large once is kept as a copy, and
// the buffer stays with its segment. Bounded: kWritesMax writes and kBytesMax of buffer
// memory, the oldest go first (at least the newest stays). Owned by one shard's log
// writer, never shared.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/strings/string_view.h"
#include "queue/record.h"

namespace ringpost::queue {

class RecentWrites {
 public:
  static constexpr size_t kWriteBytesMax = 256 << 10;
  static constexpr size_t kWritesMax = 32;
  static constexpr size_t kBytesMax = 4 << 20;

  // Keeps `bytes`, just written in full at `offset` of segment `segment`. Returns the
  // buffer for the segment's next write, empty: a pushed-out write's (or a new one of
  // the same size), or `bytes` itself when it is kept as a copy or not at all.
  std::string Keep(uint32_t segment, uint64_t offset, std::string bytes);
  // The `size` bytes at `offset` of `segment`, if one kept write holds them all;
  // empty (data() null) otherwise.
  absl::string_view Find(uint32_t segment, uint64_t offset, uint64_t size) const;

  // Copies the body at `location` of `segment` into `body` (emptied first, its memory
  // reused) when every one of its records is here whole, with its CRC and its message
  // number checked as a read from the file checks them. False, with `body` empty,
  // otherwise: read it from the file.
  bool CopyBody(uint32_t segment, const BodyLocation& location, std::string* body) const;

  size_t writes() const { return writes_.size(); }
  size_t bytes() const { return capacity_; }

 private:
  struct Write {
    uint32_t segment = 0;
    uint64_t offset = 0;
    std::string bytes;
  };
  void Add(uint32_t segment, uint64_t offset, std::string bytes);
  std::deque<Write> writes_;  // oldest first
  size_t capacity_ = 0;       // of the kept buffers
  std::string spare_;         // a pushed-out buffer, for the next write or copy
};

}  // namespace ringpost::queue
