#include "queue/recent_writes.h"

#include <utility>

#include "absl/container/inlined_vector.h"

namespace ringpost::queue {

std::string RecentWrites::Keep(uint32_t segment, uint64_t offset, std::string bytes) {
  if (bytes.size() > kWriteBytesMax) {  // large mail's write: its buffer stays with its segment
    bytes.clear();
    return bytes;
  }
  if (bytes.capacity() > kWriteBytesMax) {
    // A small write in a buffer that once held a large one: the buffer stays with its
    // segment, a copy of the write is kept (once per write, not per message).
    std::string copy = std::move(spare_);
    spare_ = std::string();
    copy.assign(bytes);
    Add(segment, offset, std::move(copy));
    bytes.clear();
    return bytes;
  }
  const size_t capacity = bytes.capacity();
  Add(segment, offset, std::move(bytes));
  std::string next = std::move(spare_);
  spare_ = std::string();
  next.clear();
  // None pushed out yet: a buffer the size of the one kept, so the next write does not
  // grow one from nothing.
  if (next.capacity() < capacity) next.reserve(capacity);
  return next;
}

void RecentWrites::Add(uint32_t segment, uint64_t offset, std::string bytes) {
  capacity_ += bytes.capacity();
  writes_.push_back({segment, offset, std::move(bytes)});
  while (writes_.size() > 1 && (writes_.size() > kWritesMax || capacity_ > kBytesMax)) {
    std::string& oldest = writes_.front().bytes;
    capacity_ -= oldest.capacity();
    // The largest pushed-out buffer is the next one to fill; the others are freed.
    if (oldest.capacity() > spare_.capacity()) spare_ = std::move(oldest);
    writes_.pop_front();
  }
}

absl::string_view RecentWrites::Find(uint32_t segment, uint64_t offset, uint64_t size) const {
  // Newest first: a body is usually read right after the write of its commit.
  for (auto it = writes_.rbegin(); it != writes_.rend(); ++it) {
    if (it->segment != segment || offset < it->offset) continue;
    const uint64_t at = offset - it->offset;
    if (at <= it->bytes.size() && size <= it->bytes.size() - at)
      return absl::string_view(it->bytes.data() + at, size);
  }
  return absl::string_view();
}

bool RecentWrites::CopyBody(uint32_t segment, const BodyLocation& location, std::string* body) const {
  body->clear();
  if (location.extents.empty() || !ExtentsMakeUpBody(location)) return false;
  // Every record must be here and intact before a byte is copied.
  constexpr size_t kHeadBytes = kRecordHeaderBytes + kBodyChunkPrefixBytes;
  absl::InlinedVector<absl::string_view, 4> pieces;
  for (const BodyExtent& extent : location.extents) {
    if (extent.offset < kHeadBytes) return false;
    const absl::string_view record = Find(segment, extent.offset - kHeadBytes, kHeadBytes + extent.bytes);
    if (record.data() == nullptr ||
        !IsBodyChunkOf(record.substr(0, kHeadBytes), record.substr(kHeadBytes), location.message_ref)) {
      return false;
    }
    pieces.push_back(record.substr(kHeadBytes));
  }
  for (absl::string_view piece : pieces) body->append(piece.data(), piece.size());
  return true;
}

}  // namespace ringpost::queue
