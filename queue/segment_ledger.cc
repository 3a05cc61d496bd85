#include "queue/segment_ledger.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/check.h"
#include "core/log.h"

namespace ringpost::queue {

SegmentLedger::SegmentLedger(std::string shard_dir, uint32_t recycled_files_max)
    : shard_dir_(std::move(shard_dir)), recycled_files_max_(recycled_files_max) {}

void SegmentLedger::AddFreeFile(std::string path) { KeepFreeFile(std::move(path)); }

void SegmentLedger::KeepFreeFile(std::string path) {
  struct stat st {};
  const uint64_t bytes = stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
  free_file_bytes_ += bytes;
  free_files_.push_back(FreeFile{std::move(path), bytes});
}

std::string SegmentLedger::TakeFreeFile() {
  if (free_files_.empty()) return "";
  FreeFile file = std::move(free_files_.back());
  free_files_.pop_back();
  free_file_bytes_ -= file.bytes;
  return std::move(file.path);
}

void SegmentLedger::ReleaseFreeFiles() {
  for (const FreeFile& file : free_files_) {
    if (unlink(file.path.c_str()) != 0 && errno != ENOENT) {
      RP_LOG(kWarning) << "cannot delete reusable segment " << file.path << ": " << strerror(errno);
    }
  }
  free_files_.clear();
  free_file_bytes_ = 0;
}

void SegmentLedger::AddWriting(uint32_t segment, std::string path) {
  segments_[segment] = Entry{std::move(path), 0, false};
}

void SegmentLedger::Adopt(uint32_t segment, std::string path, uint32_t live_messages) {
  segments_[segment] = Entry{std::move(path), live_messages, true};
  DeleteFinished();
}

void SegmentLedger::Pin(uint32_t segment) {
  auto it = segments_.find(segment);
  RP_CHECK_MSG(it != segments_.end(), "Pin for an unknown segment");
  ++it->second.live;
}

void SegmentLedger::Unpin(uint32_t segment) {
  auto it = segments_.find(segment);
  RP_CHECK_MSG(it != segments_.end() && it->second.live > 0,
               "a message finished in a segment with nothing live");
  --it->second.live;
  DeleteFinished();
}

void SegmentLedger::FinishedWriting(uint32_t segment) {
  auto it = segments_.find(segment);
  RP_CHECK_MSG(it != segments_.end(), "FinishedWriting for an unknown segment");
  it->second.finished_writing = true;
  DeleteFinished();
}

uint32_t SegmentLedger::OldestPinned() const {
  for (const auto& [number, entry] : segments_) {
    if (entry.live > 0) return number;
  }
  return 0;
}

std::string SegmentLedger::PathOf(uint32_t segment) const {
  auto it = segments_.find(segment);
  return it == segments_.end() ? std::string() : it->second.path;
}

void SegmentLedger::PauseDeletion(bool paused) {
  deletion_paused_ = paused;
  if (!paused) DeleteFinished();
}

void SegmentLedger::DeleteFinished() {
  while (!segments_.empty() && !deletion_paused_) {
    auto oldest = segments_.begin();
    if (!oldest->second.finished_writing || oldest->second.live > 0) return;
    const std::string& path = oldest->second.path;
    bool kept = false;
    if (free_files_.size() < recycled_files_max_) {
      std::string free_path = absl::StrFormat("%s/%08u.free", shard_dir_, oldest->first);
      if (rename(path.c_str(), free_path.c_str()) == 0) {
        KeepFreeFile(std::move(free_path));
        kept = true;
      }
    }
    if (!kept && unlink(path.c_str()) != 0 && errno != ENOENT) {
      RP_LOG(kWarning) << "cannot delete finished segment " << path << ": " << strerror(errno);
      return;
    }
    ++deleted_;
    segments_.erase(oldest);
  }
}

}  // namespace ringpost::queue
