#include "queue/recovery.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/log.h"
#include "queue/segment_scan.h"

namespace ringpost::queue {
namespace {

namespace fs = std::filesystem;

// A read-only mapping of a whole segment (the page cache does the reading).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return;
    struct stat st;
    if (fstat(fd_, &st) != 0 || st.st_size == 0) return;
    size_ = static_cast<size_t>(st.st_size);
    void* data = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (data == MAP_FAILED) {
      size_ = 0;
      return;
    }
    data_ = static_cast<const char*>(data);
    madvise(data, size_, MADV_SEQUENTIAL);
  }
  ~MappedFile() {
    if (data_ != nullptr) munmap(const_cast<char*>(data_), size_);
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  absl::string_view bytes() const { return data_ ? absl::string_view(data_, size_) : absl::string_view(); }

 private:
  int fd_ = -1;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

absl::Status Quarantine(const std::string& spool_dir, const fs::path& segment, uint32_t shard, std::string* moved_to) {
  const fs::path dir = fs::path(spool_dir) / "quarantine";
  std::error_code error;
  fs::create_directories(dir, error);
  const fs::path target = dir / absl::StrCat("shard-", shard, "-", segment.filename().string());
  fs::rename(segment, target, error);
  if (error) return absl::UnavailableError(absl::StrCat("quarantine ", segment.string(), ": ", error.message()));
  *moved_to = target.string();
  return absl::OkStatus();
}

struct ShardSegments {
  uint32_t shard;
  std::vector<std::pair<uint32_t, fs::path>> segments;  // number order
};

std::vector<ShardSegments> ListSegments(const std::string& spool_dir) {
  std::vector<ShardSegments> shards;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(spool_dir, error)) {
    unsigned shard = 0;
    if (!entry.is_directory() || std::sscanf(entry.path().filename().c_str(), "shard-%u", &shard) != 1) continue;
    ShardSegments s{shard, {}};
    for (const auto& file : fs::directory_iterator(entry.path(), error)) {
      unsigned number = 0;
      char tail = 0;
      if (std::sscanf(file.path().filename().c_str(), "%08u.lo%c", &number, &tail) == 2 && tail == 'g') {
        s.segments.emplace_back(number, file.path());
      }
    }
    std::sort(s.segments.begin(), s.segments.end());
    shards.push_back(std::move(s));
  }
  std::sort(shards.begin(), shards.end(), [](const auto& a, const auto& b) { return a.shard < b.shard; });
  return shards;
}

}  // namespace

absl::StatusOr<RecoveredQueue> RecoverSpool(const std::string& spool_dir) {
  RecoveredQueue queue;
  RecoveryReport& report = queue.report;
  std::vector<RecoveredMessage> messages;
  absl::flat_hash_map<std::string, size_t> by_id;
  std::vector<ScannedResult> results;
  for (const ShardSegments& shard : ListSegments(spool_dir)) {
    for (const auto& [number, path] : shard.segments) {
      ++report.segments;
      MappedFile file(path.string());
      if (!file.ok()) return absl::UnavailableError(absl::StrCat("cannot open ", path.string()));
      report.bytes_scanned += file.bytes().size();
      absl::StatusOr<SegmentScan> scan = ScanSegment(file.bytes());
      std::string segment_path = path.string();
      if (!scan.ok()) {
        // The newest segment's header may simply never have been synced (a crash
        // right after the roll): it held nothing acknowledged. Anywhere else a bad
        // header is corruption. Either way the file is moved aside, never deleted.
        const bool newest = number == shard.segments.back().first;
        if (newest) {
          RP_LOG(kInfo) << "segment " << segment_path << " was never written (" << scan.status() << "); moved aside";
          ++report.unwritten_segments;
        } else {
          RP_LOG(kError) << "segment " << segment_path << ": " << scan.status() << "; quarantined";
          ++report.quarantined;
        }
        std::string moved;
        RP_RETURN_IF_ERROR(Quarantine(spool_dir, path, shard.shard, &moved));
        continue;
      }
      if (scan->sealed) ++report.sealed_segments;
      if (!scan->clean_end && scan->sealed) {
        RP_LOG(kError) << "segment " << segment_path << " is sealed but " << scan->stop_reason << " at byte "
                       << scan->valid_bytes << "; quarantined";
        RP_RETURN_IF_ERROR(Quarantine(spool_dir, path, shard.shard, &segment_path));
        ++report.quarantined;
      } else if (!scan->clean_end) {
        // A crash cut this segment short: the torn tail goes.
        report.torn_bytes_cut += file.bytes().size() - scan->valid_bytes;
        ++report.torn_tails;
        if (truncate(segment_path.c_str(), static_cast<off_t>(scan->valid_bytes)) != 0) {
          return absl::ErrnoToStatus(errno, absl::StrCat("truncate ", segment_path));
        }
      }
      for (ScannedMessage& m : scan->messages) {
        ++report.messages_committed;
        RecoveredMessage recovered;
        recovered.shard = shard.shard;
        recovered.segment_path = segment_path;
        recovered.recipients.resize(m.envelope.recipients.size());
        recovered.envelope = std::move(m.envelope);
        by_id[recovered.envelope.queue_id] = messages.size();
        queue.queue_ids.push_back(recovered.envelope.queue_id);
        messages.push_back(std::move(recovered));
      }
      for (ScannedResult& r : scan->results) results.push_back(std::move(r));
    }
  }
  // Results may sit in later segments than their messages; apply them once all are known.
  report.results = results.size();
  for (const ScannedResult& scanned : results) {
    const DeliveryResult& r = scanned.result;
    auto it = by_id.find(r.queue_id);
    if (it == by_id.end()) continue;  // its message was finished and reclaimed
    RecoveredMessage& m = messages[it->second];
    if (r.recipient_index >= m.recipients.size()) continue;
    RecipientState& state = m.recipients[r.recipient_index];
    if (state.final || r.attempt < state.attempts) continue;  // a final outcome is never undone
    state.attempts = r.attempt;
    state.last_outcome = r.outcome;
    state.final = r.outcome != Outcome::kDeferred;
    state.next_attempt_unix_micros = r.outcome == Outcome::kDeferred ? r.next_attempt_unix_micros : 0;
  }
  for (RecoveredMessage& m : messages) {
    const bool finished = std::all_of(m.recipients.begin(), m.recipients.end(),
                                      [](const RecipientState& s) { return s.final; });
    if (finished) {
      ++report.messages_finished;
    } else {
      queue.live.push_back(std::move(m));
    }
  }
  return queue;
}

}  // namespace ringpost::queue
