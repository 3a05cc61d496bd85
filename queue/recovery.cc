#include "queue/recovery.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
    // MAP_POPULATE reads the whole file in big requests up front instead of one
    // page fault per 4 KiB while scanning.
    void* data = mmap(nullptr, size_, PROT_READ, MAP_SHARED | MAP_POPULATE, fd_, 0);
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

absl::Status Quarantine(const std::string& spool_dir, const fs::path& segment, uint32_t shard,
                        std::string* moved_to) {
  const fs::path dir = fs::path(spool_dir) / "quarantine";
  std::error_code error;
  fs::create_directories(dir, error);
  // Never overwrite an earlier quarantined file: a quarantined segment is kept forever.
  fs::path target = dir / absl::StrCat("shard-", shard, "-", segment.filename().string());
  for (int copy = 1; fs::exists(target); ++copy) {
    target = dir / absl::StrCat("shard-", shard, "-", segment.filename().string(), ".", copy);
  }
  fs::rename(segment, target, error);
  if (error)
    return absl::UnavailableError(absl::StrCat("quarantine ", segment.string(), ": ", error.message()));
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
    if (!entry.is_directory() || std::sscanf(entry.path().filename().c_str(), "shard-%u", &shard) != 1)
      continue;
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

// One segment's share of recovery: scanned (and cut or moved aside) independently of
// every other segment, so segments are handled on all CPUs at once.
struct SegmentOutcome {
  uint32_t shard = 0;
  uint32_t number = 0;
  fs::path path;
  std::string segment_path;         // where it is after recovery (quarantine moves it)
  std::optional<SegmentScan> scan;  // envelopes dropped once indexed (memory)
  std::vector<RecoveredMessage> messages;
  absl::Status status;
  uint64_t size = 0;
  bool torn = false, quarantined = false, unwritten = false, recycled_unused = false;
};

void RecoverSegment(const std::string& spool_dir, SegmentOutcome& out) {
  out.segment_path = out.path.string();
  MappedFile file(out.segment_path);
  if (!file.ok()) {
    out.status = absl::UnavailableError(absl::StrCat("cannot open ", out.segment_path));
    return;
  }
  out.size = file.bytes().size();
  if (out.size == 0) {
    // Created, then the process stopped before its first write: an empty file holds
    // nothing at all, so it simply goes (with two head segments it need not be the
    // newest file).
    out.unwritten = true;
    if (unlink(out.segment_path.c_str()) != 0)
      out.status = absl::ErrnoToStatus(errno, "unlink empty segment");
    return;
  }
  absl::StatusOr<SegmentScan> scan = ScanSegment(file.bytes());
  if (scan.ok() && scan->header.number != out.number) {
    // A reused file whose new header never reached the disk (the daemon stopped, or
    // crashed, before the segment's first sync): what it holds is an older, finished
    // segment's content under a new name, and nothing of the new one was ever
    // acknowledged (a sync covering a record covers the header before it). It goes back
    // to the reuse pool, as it was, and must not come back to life.
    const std::string free_path = (out.path.parent_path() / absl::StrFormat("%08u.free", out.number)).string();
    if (rename(out.segment_path.c_str(), free_path.c_str()) != 0) {
      out.status = absl::ErrnoToStatus(errno, absl::StrCat("rename ", out.segment_path));
    }
    out.recycled_unused = true;
    return;
  }
  if (!scan.ok()) {
    // No valid header: nothing in the file was ever acknowledged (a sync covering a
    // record covers the header before it). Typically a segment created just before a
    // crash, or a reused file whose new header never landed. Moved aside, never deleted,
    // never read.
    RP_LOG(kWarning) << "segment " << out.segment_path << " has no valid header (" << scan.status()
                     << "); moved aside unread";
    out.unwritten = true;
    std::string moved;
    out.status = Quarantine(spool_dir, out.path, out.shard, &moved);
    return;
  }
  if (!scan->clean_end && scan->sealed) {
    RP_LOG(kError) << "segment " << out.segment_path << " is sealed but " << scan->stop_reason << " at byte "
                   << scan->valid_bytes << "; quarantined";
    out.quarantined = true;
    out.status = Quarantine(spool_dir, out.path, out.shard, &out.segment_path);
  } else if (!scan->clean_end) {
    // A crash cut this segment short: the torn tail goes.
    out.torn = true;
    if (truncate(out.segment_path.c_str(), static_cast<off_t>(scan->valid_bytes)) != 0) {
      out.status = absl::ErrnoToStatus(errno, absl::StrCat("truncate ", out.segment_path));
    }
  }
  // Index entries now, on this thread, and drop the decoded envelopes: a million
  // envelopes in memory at once would cost gigabytes of freshly faulted pages.
  out.messages.reserve(scan->messages.size());
  for (ScannedMessage& m : scan->messages) {
    RecoveredMessage entry;
    entry.queue_id = std::move(m.envelope.queue_id);
    entry.shard = out.shard;
    entry.commit_offset = m.commit_offset;
    entry.body_bytes = m.envelope.body_bytes;
    entry.recipients.resize(m.envelope.recipients.size());
    // A message compaction rewrote carries its recipients' state with it.
    for (size_t i = 0; i < m.envelope.recipients.size(); ++i) {
      const Recipient& r = m.envelope.recipients[i];
      entry.recipients[i].final = r.final;
      entry.recipients[i].attempts = r.attempts;
      entry.recipients[i].next_attempt_unix_micros = r.next_attempt_unix_micros;
    }
    out.messages.push_back(std::move(entry));
  }
  scan->messages.clear();
  scan->messages.shrink_to_fit();
  out.scan = std::move(*scan);
}

}  // namespace

absl::StatusOr<RecoveredQueue> RecoverSpool(const std::string& spool_dir) {
  std::vector<SegmentOutcome> outcomes;
  for (const ShardSegments& shard : ListSegments(spool_dir)) {
    for (const auto& [number, path] : shard.segments) {
      SegmentOutcome out;
      out.shard = shard.shard;
      out.number = number;
      out.path = path;
      outcomes.push_back(std::move(out));
    }
  }
  // Scan on every CPU: reading and checking segments is independent work.
  const size_t workers =
      std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), outcomes.size()));
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < workers; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < outcomes.size(); i = next++) RecoverSegment(spool_dir, outcomes[i]);
    });
  }
  for (std::thread& t : threads) t.join();

  RecoveredQueue queue;
  RecoveryReport& report = queue.report;
  size_t committed = 0;
  for (const SegmentOutcome& out : outcomes) committed += out.messages.size();
  std::vector<RecoveredMessage> messages;
  messages.reserve(committed);
  queue.queue_ids.reserve(committed);
  absl::flat_hash_map<std::string, size_t> by_id;
  by_id.reserve(committed);
  std::vector<bool> superseded;
  superseded.reserve(committed);
  std::vector<std::pair<const ScannedResult*, uint32_t>> results;  // and the segment it is in
  for (SegmentOutcome& out : outcomes) {
    RP_RETURN_IF_ERROR(out.status);
    ++report.segments;
    report.bytes_scanned += out.size;
    report.quarantined += out.quarantined ? 1 : 0;
    report.unwritten_segments += out.unwritten ? 1 : 0;
    report.recycled_unused += out.recycled_unused ? 1 : 0;
    if (!out.scan) continue;
    report.sealed_segments += out.scan->sealed ? 1 : 0;
    if (out.torn) {
      ++report.torn_tails;
      report.torn_bytes_cut += out.size - out.scan->valid_bytes;
    }
    const uint32_t segment = static_cast<uint32_t>(queue.segments.size());
    queue.segments.push_back(RecoveredSegment{out.shard, out.number, out.segment_path, out.quarantined, 0});
    for (RecoveredMessage& m : out.messages) {
      m.segment = segment;
      auto [it, inserted] = by_id.try_emplace(m.queue_id, messages.size());
      if (!inserted) {
        // Compaction copied this message forward: the newer copy (segments are in
        // order) is the one that counts.
        superseded[it->second] = true;
        it->second = messages.size();
        ++report.messages_relocated;
      } else {
        queue.queue_ids.push_back(m.queue_id);
      }
      messages.push_back(std::move(m));
      superseded.push_back(false);
    }
    out.messages = {};
    for (const ScannedResult& r : out.scan->results) results.push_back({&r, segment});
  }
  report.messages_committed = messages.size() - report.messages_relocated;
  // Results may sit in later segments than their messages; apply them once all are known.
  report.results = results.size();
  for (const auto& [scanned, result_segment] : results) {
    const DeliveryResult& r = scanned->result;
    auto it = by_id.find(r.queue_id);
    if (it == by_id.end()) continue;  // its message was finished and reclaimed
    RecoveredMessage& m = messages[it->second];
    if (r.recipient_index >= m.recipients.size()) continue;
    RecipientState& state = m.recipients[r.recipient_index];
    if (state.final || r.attempt < state.attempts) continue;  // a final outcome is never undone
    if (queue.segments[result_segment].shard != queue.segments[m.segment].shard &&
        std::find(m.result_segments.begin(), m.result_segments.end(), result_segment) ==
            m.result_segments.end()) {
      m.result_segments.push_back(result_segment);
    }
    state.attempts = r.attempt;
    state.last_outcome = r.outcome;
    switch (r.outcome) {
      case Outcome::kHeld:
        state.held = true;  // not attempted until released; its retry time stands
        break;
      case Outcome::kReleased:
        state.held = false;
        break;
      case Outcome::kDeferred:
        state.next_attempt_unix_micros = r.next_attempt_unix_micros;
        break;
      default:
        state.final = true;
        state.next_attempt_unix_micros = 0;
        break;
    }
  }
  // Standing orders: the newest for each domain decides (carried into every new segment,
  // so the newest segments hold them whatever was reclaimed).
  absl::flat_hash_map<std::string, size_t> order_of;
  for (SegmentOutcome& out : outcomes) {
    if (!out.scan) continue;
    for (ControlRecord& control : out.scan->controls) {
      auto [it, inserted] = order_of.try_emplace(control.domain, queue.controls.size());
      if (inserted) {
        queue.controls.push_back(std::move(control));
      } else if (control.at_unix_micros >= queue.controls[it->second].at_unix_micros) {
        queue.controls[it->second] = std::move(control);
      }
    }
  }
  queue.live.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    if (superseded[i]) continue;
    RecoveredMessage& m = messages[i];
    const bool finished = std::all_of(m.recipients.begin(), m.recipients.end(),
                                      [](const RecipientState& s) { return s.final; });
    if (finished) {
      ++report.messages_finished;
    } else {
      ++queue.segments[m.segment].live;
      for (uint32_t result_segment : m.result_segments) ++queue.segments[result_segment].live;
      queue.live.push_back(std::move(m));
    }
  }
  return queue;
}

}  // namespace ringpost::queue
