#include "queue/log_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <tuple>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/check.h"
#include "core/log.h"
#include "queue/wire.h"

namespace ringpost::queue {
namespace {

// What a failed operation means for the client (the SMTP server maps these to replies):
// a full disk is 452 4.3.1, anything else 451 4.3.0.
absl::Status StorageError(int error, absl::string_view what) {
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": ", strerror(error)));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(error)));
}

bool Armed(int& countdown) {
  if (countdown < 0) return false;
  return countdown-- == 0;
}

}  // namespace

struct LogWriter::Segment {
  struct Waiter {
    uint64_t end;  // durable once synced_end >= end
    CommitCallback done;
    uint64_t commit_offset = 0;  // for commits: where the record starts
  };
  struct Parked {
    uint64_t body_end;  // the commit may be written once written_end >= body_end
    std::string payload;
    CommitCallback done;
  };

  uint32_t number = 0;
  uint32_t generation = 0;
  std::string path;
  int fd = -1;
  uint64_t sequence = 0;
  std::string pending;          // staged records, not yet submitted
  uint64_t pending_offset = 0;  // file offset of pending[0]
  std::string inflight;         // on loan to the kernel until its CQE
  uint64_t inflight_offset = 0;
  bool write_in_flight = false;
  uint64_t written_end = 0;  // every byte before this was written in full
  bool sync_in_flight = false;
  uint64_t sync_target = 0;    // written_end when the sync in flight was issued
  uint64_t synced_end = 0;     // covered by a completed sync
  std::deque<Waiter> waiters;  // in file order
  std::deque<Parked> parked;
  uint32_t open_messages = 0;
  bool recycled = false;  // a reused file: older records may follow ours
  bool head = false;      // takes new records; the others only finish what they hold
  bool sealing = false;   // the seal record is on its way to disk
  bool failed = false;
  absl::Status failure;

  uint64_t end() const { return pending_offset + pending.size(); }
  bool idle() const {
    return !write_in_flight && !sync_in_flight && pending.empty() && waiters.empty() && parked.empty() &&
           open_messages == 0;
  }
};

struct LogWriter::DurableWaiters {
  std::vector<Segment::Waiter> waiters;
};

LogWriter::LogWriter(core::Shard& shard, const LogWriterOptions& options)
    : shard_(shard),
      options_(options),
      ledger_(options.shard_dir, options.recycled_files_max),
      durable_spare_(std::make_unique<DurableWaiters>()) {
  RP_CHECK_GT(options_.body_chunk_bytes_max, 0u);
  RP_CHECK_LE(options_.body_chunk_bytes_max + kBodyChunkPrefixBytes, kRecordPayloadBytesMax);
  shard_.SetSink(core::OpKind::kFileWrite, this);
  shard_.SetSink(core::OpKind::kFileSync, this);
  shard_.AddTurnHook([this] { OnTurn(); });
}

LogWriter::~LogWriter() {
  RP_LOG(kInfo) << "queue log shard " << options_.shard << ": commits=" << stats_.commits
                << " writes=" << stats_.writes << " write_bytes=" << stats_.write_bytes
                << " syncs=" << stats_.syncs << " segments_created=" << stats_.segments_created
                << " failures=" << stats_.failures;
  for (auto& s : segments_) {
    if (s->fd < 0) continue;
    close(s->fd);
    // A head nothing was ever written to (a clean stop with no mail since it rolled):
    // a reused file would otherwise keep its old header under its new name.
    if (s->written_end == 0 && !s->write_in_flight && !s->failed) DiscardUnusedFile(*s);
  }
  if (dir_fd_ >= 0) close(dir_fd_);
}

absl::Status LogWriter::Start(LogFaults* faults) {
  faults_ = faults;
  std::error_code error;
  std::filesystem::create_directories(options_.shard_dir, error);
  if (error)
    return absl::UnavailableError(absl::StrCat("create ", options_.shard_dir, ": ", error.message()));
  dir_fd_ = open(options_.shard_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", options_.shard_dir));
  // Numbers only grow past what the folder holds; files left for reuse by an earlier
  // run go back into the pool.
  for (const auto& entry : std::filesystem::directory_iterator(options_.shard_dir, error)) {
    unsigned number = 0;
    const std::string name = entry.path().filename().string();
    if (std::sscanf(name.c_str(), "%08u.log", &number) == 1 && number >= next_number_) {
      next_number_ = number + 1;
    } else if (name.size() > 5 && name.substr(name.size() - 5) == ".free") {
      ledger_.AddFreeFile(entry.path().string());
    }
  }
  // Stale records in a reused file carry an older generation; the salt keeps them apart
  // even from a number an earlier run used.
  generation_salt_ = static_cast<uint32_t>(core::MonotonicNowNanos() ^ (core::MonotonicNowNanos() >> 32)) ^
                     static_cast<uint32_t>(time(nullptr)) * 2654435761u;
  heads_.resize(std::max<uint32_t>(options_.heads, 1), nullptr);
  return RollHeads();
}

absl::Status LogWriter::RollHeads() {
  // All heads or none: a half-done roll would leave an old head behind newer sealed
  // segments (pinning reclamation) and be retried on every message.
  std::vector<std::unique_ptr<Segment>> fresh;
  absl::Status status;
  for (size_t lane = 0; lane < heads_.size() && status.ok(); ++lane) {
    absl::StatusOr<std::unique_ptr<Segment>> segment = CreateSegmentFile();
    if (segment.ok()) {
      fresh.push_back(std::move(*segment));
    } else {
      status = segment.status();
    }
  }
  // The directory entries must be durable before any record in the files is
  // acknowledged; once per roll, so a blocking fsync here is cheap.
  if (status.ok() && options_.fsync && fsync(dir_fd_) != 0) {
    status = StorageError(errno, absl::StrCat("fsync ", options_.shard_dir));
  }
  if (!status.ok()) {
    for (const auto& segment : fresh) {
      close(segment->fd);
      DiscardUnusedFile(*segment);
    }
    return status;
  }
  for (size_t lane = 0; lane < heads_.size(); ++lane) {
    Segment& segment = *fresh[lane];
    if (faults_ != nullptr) faults_->shadow[segment.path] = {};
    ++stats_.segments_created;
    ledger_.AddWriting(segment.number, segment.path);
    segment.head = true;
    // With two heads, the header is synced at once (an empty waiter): the older head
    // may take no message for a whole segment's time, and a reused file whose new
    // header is not durable still carries its old one, which recovery sets aside. (One
    // head syncs its header with its first records; an unused one stays empty and goes.)
    if (heads_.size() > 1) {
      segment.waiters.push_back({segment.end(), [](const absl::Status&, const MessageLocation&) {}});
      Kick(segment);
    }
    if (heads_[lane] != nullptr) heads_[lane]->head = false;
    heads_[lane] = &segment;
    segments_.push_back(std::move(fresh[lane]));
  }
  CarryStandingOrders(NewestHead());
  // Every older segment is sealed now if idle, else once what it holds is durable.
  std::vector<Segment*> older;
  for (const auto& segment : segments_) {
    if (!segment->head) older.push_back(segment.get());
  }
  for (Segment* old : older) MaybeRetire(*old);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LogWriter::Segment>> LogWriter::CreateSegmentFile() {
  if (faults_ != nullptr && Armed(faults_->fail_create_after)) return StorageError(ENOSPC, "create segment");
  auto segment = std::make_unique<Segment>();
  segment->number = next_number_++;
  segment->path = absl::StrFormat("%s/%08u.log", options_.shard_dir, segment->number);
  // Reuse a finished file if there is one: its blocks are allocated and were synced
  // once. Its old records stay behind ours until overwritten; their generation never
  // matches, and recovery knows a file whose header still names another number.
  const std::string free_file = ledger_.TakeFreeFile();
  segment->recycled = !free_file.empty() && rename(free_file.c_str(), segment->path.c_str()) == 0;
  segment->fd = segment->recycled
                    ? open(segment->path.c_str(), O_WRONLY | O_CLOEXEC)
                    : open(segment->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (segment->fd < 0) {
    const absl::Status error = StorageError(errno, absl::StrCat("create ", segment->path));
    // A new file was not created (and one in the way is not ours to delete).
    if (segment->recycled) DiscardUnusedFile(*segment);
    return error;
  }
  if (segment->recycled) ++stats_.segments_recycled;
  SegmentHeader header;
  header.shard = options_.shard;
  header.generation = generation_salt_ + segment->number;
  header.number = segment->number;
  segment->generation = header.generation;
  for (std::string* buffer : {&segment->inflight, &segment->pending}) {
    if (spare_buffers_.empty()) break;
    buffer->swap(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  segment->pending.append(EncodeSegmentHeader(header));
  return segment;
}

void LogWriter::DiscardUnusedFile(const Segment& s) {
  // Nothing was written to it: a reused file goes back to the pool, a new one goes.
  const std::string free_path = absl::StrFormat("%s/%08u.free", options_.shard_dir, s.number);
  if (s.recycled && rename(s.path.c_str(), free_path.c_str()) == 0) {
    ledger_.AddFreeFile(free_path);
  } else {
    unlink(s.path.c_str());
  }
}

// The heads roll together, lane by lane in number order: the last lane is the newest.
LogWriter::Segment& LogWriter::NewestHead() { return *heads_.back(); }

LogWriter::Segment& LogWriter::HeadForMessage() {
  // Small messages gather in one head: while a head holds less than this not yet
  // durable, staging and writing it take a fraction of a sync, so splitting the
  // producers would only halve what each sync covers. The newest head first, where
  // delivery results go: commits and results then share a sync.
  constexpr uint64_t kGatherBytes = 1 << 20;
  const auto gathers = [](const Segment* s) { return !s->failed && s->end() - s->synced_end < kGatherBytes; };
  Segment& newest = NewestHead();
  if (gathers(&newest)) return newest;
  for (Segment* head : heads_) {
    if (gathers(head)) return *head;
  }
  // Past that, the head whose bytes can leave soonest: a healthy one without a sync in
  // flight (what is staged there goes with its next sync, not the one after the sync
  // running), else the one with fewer bytes not yet durable.
  const auto rank = [](const Segment* s) {
    return std::make_tuple(s->failed, s->sync_in_flight, s->end() - s->synced_end);
  };
  Segment* best = &newest;
  for (Segment* head : heads_) {
    if (rank(head) < rank(best)) best = head;
  }
  return *best;
}

LogWriter::Segment& LogWriter::UsableHead(bool newest) {
  const auto pick = [this, newest]() -> Segment* { return newest ? &NewestHead() : &HeadForMessage(); };
  Segment* head = pick();
  // A failed head is replaced at once (with the other heads, so they stay the newest).
  const bool any_failed =
      std::any_of(heads_.begin(), heads_.end(), [](const Segment* h) { return h->failed; });
  // After a failure, a new segment at most once a second: on a full disk every write
  // fails, and a roll per failure would leave a trail of empty files.
  const core::MonoNanos now = shard_.now();
  if (any_failed && failure_rolled_at_ != 0 && now - failure_rolled_at_ < core::kNanosPerSecond) return *head;
  if (any_failed || head->end() >= options_.segment_bytes_max) {
    if (any_failed) failure_rolled_at_ = now;
    if (absl::Status s = RollHeads(); !s.ok()) {
      RP_LOG(kError) << "cannot start a new segment: " << s;  // the caller hears the failure
    }
    head = pick();
  }
  return *head;
}

// The reserve (free_space_reserve_bytes) is kept for delivery results, compaction and
// reclamation: new mail may use only the space above it. Space held by the reuse pool
// counts as free (it is given back to the file system as soon as real free space is
// short), and bytes staged but not yet written count as used.
void LogWriter::RefreshFreeSpace() {
  const core::MonoNanos now = shard_.now();
  if (free_space_checked_at_ != 0 && now - free_space_checked_at_ < 100 * core::kNanosPerMilli) return;
  free_space_checked_at_ = now;
  struct statvfs fs;
  if (fstatvfs(dir_fd_, &fs) != 0) return;
  uint64_t free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free < options_.free_space_reserve_bytes && ledger_.free_file_bytes() > 0) {
    RP_LOG(kWarning) << "spool " << options_.shard_dir << ": " << free << " bytes free, under the reserve; giving back "
                     << ledger_.free_file_bytes() << " bytes of reusable segment files";
    ledger_.ReleaseFreeFiles();
    if (fstatvfs(dir_fd_, &fs) == 0) free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  const uint64_t used = options_.free_space_reserve_bytes + staged_bytes();
  const uint64_t available = free + ledger_.free_file_bytes();
  body_budget_bytes_ = available > used ? available - used : 0;
  free_space_low_ = body_budget_bytes_ == 0;
}

absl::Status LogWriter::CheckFreeSpace() {
  if (options_.free_space_reserve_bytes == 0) return absl::OkStatus();
  RefreshFreeSpace();
  if (free_space_low_) {
    return absl::ResourceExhaustedError("spool free space is below the reserve; new mail is refused");
  }
  return absl::OkStatus();
}

absl::Status LogWriter::ChargeBody(uint64_t bytes) {
  if (options_.free_space_reserve_bytes == 0) return absl::OkStatus();
  RefreshFreeSpace();
  if (bytes > body_budget_bytes_) {
    free_space_low_ = true;  // until the next look at the file system says otherwise
    body_budget_bytes_ = 0;
    return absl::ResourceExhaustedError("spool free space is below the reserve; the message is refused");
  }
  body_budget_bytes_ -= bytes;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LogWriter::BeginMessage() {
  RP_RETURN_IF_ERROR(CheckFreeSpace());
  return BeginMessageUnchecked(/*newest=*/false);
}

absl::StatusOr<uint64_t> LogWriter::BeginMessageUnchecked(bool newest) {
  // A failed head that could not be replaced fails the message on append.
  Segment* current = &UsableHead(newest);
  const uint64_t id = next_message_++;
  OpenMessage& m = open_[id];
  m.segment = current;
  m.copy = newest;
  m.body_end = current->end();
  ++current->open_messages;
  return id;
}

void LogWriter::AppendRecordTo(Segment& s, RecordType type, absl::string_view payload) {
  AppendRecord(type, s.generation, ++s.sequence, payload, &s.pending);
}

absl::Status LogWriter::AppendBody(uint64_t message, absl::string_view bytes) {
  return AppendBodyParts(message, absl::MakeConstSpan(&bytes, 1));
}

absl::Status LogWriter::AppendBodyParts(uint64_t message, absl::Span<const absl::string_view> pieces) {
  auto it = open_.find(message);
  RP_CHECK_MSG(it != open_.end(), "AppendBody on a message that is not open");
  OpenMessage& m = it->second;
  Segment& s = *m.segment;
  if (s.failed) return s.failure;
  // New mail stops at the reserve, whatever messages were started before it was reached
  // (compaction's copies go on: they are how space comes back).
  if (!m.copy) {
    uint64_t bytes = 0;
    for (absl::string_view piece : pieces) bytes += piece.size();
    RP_RETURN_IF_ERROR(ChargeBody(bytes));
  }
  // The commit record lists every extent: past this many it could outgrow a record.
  if (m.extents.size() >= kMessageExtentsMax) {
    return absl::ResourceExhaustedError("message body in too many pieces");
  }
  char prefix[kBodyChunkPrefixBytes];
  for (size_t i = 0; i < kBodyChunkPrefixBytes; ++i) prefix[i] = static_cast<char>(message >> (8 * i));
  // Records of at most body_chunk_bytes_max body bytes, each gathered from the pieces
  // (or parts of them) it covers.
  absl::InlinedVector<absl::string_view, 16> record;
  size_t next = 0;         // the piece being cut
  absl::string_view rest;  // what is left of it
  if (!pieces.empty()) rest = pieces[0];
  while (true) {
    record.clear();
    record.push_back(absl::string_view(prefix, sizeof(prefix)));
    size_t take_total = 0;
    while (next < pieces.size() && take_total < options_.body_chunk_bytes_max) {
      const size_t take = std::min<size_t>(rest.size(), options_.body_chunk_bytes_max - take_total);
      if (take > 0) record.push_back(rest.substr(0, take));
      take_total += take;
      rest.remove_prefix(take);
      if (rest.empty() && ++next < pieces.size()) rest = pieces[next];
    }
    if (take_total == 0) break;
    const uint64_t data_offset = s.end() + kRecordHeaderBytes + kBodyChunkPrefixBytes;
    // One copy: the bytes go straight into the segment's staging buffer.
    AppendRecordGather(RecordType::kBody, s.generation, ++s.sequence, record, &s.pending);
    m.extents.push_back({data_offset, static_cast<uint32_t>(take_total)});
    m.body_bytes += take_total;
  }
  m.body_end = s.end();
  Kick(s);
  return absl::OkStatus();
}

absl::Status LogWriter::PrependBody(uint64_t message, absl::string_view bytes) {
  auto it = open_.find(message);
  RP_CHECK_MSG(it != open_.end(), "PrependBody on a message that is not open");
  const size_t before = it->second.extents.size();
  RP_RETURN_IF_ERROR(AppendBody(message, bytes));
  std::vector<BodyExtent>& extents = it->second.extents;
  std::rotate(extents.begin(), extents.begin() + static_cast<std::ptrdiff_t>(before), extents.end());
  return absl::OkStatus();
}

void LogWriter::Commit(uint64_t message, Envelope envelope, DurableCallback done) {
  Commit(message, std::move(envelope),
         [done = std::move(done)](const absl::Status& status, const MessageLocation&) { done(status); });
}

void LogWriter::Commit(uint64_t message, Envelope envelope, CommitCallback done) {
  Commit(message, &envelope, std::move(done));
}

void LogWriter::FailLater(CommitCallback done, const absl::Status& status) {
  // The caller is still on the stack: it hears the failure at the end of the loop turn,
  // as it would hear a failure of the disk, never from inside its own call.
  struct Failure {
    CommitCallback done;
    absl::Status status;
  };
  auto* failure = new Failure{std::move(done), status};
  shard_.RunAfterTurn({[](void* context, uint64_t) {
                         std::unique_ptr<Failure> f(static_cast<Failure*>(context));
                         f->done(f->status, MessageLocation{});
                       },
                       failure, 0});
}

void LogWriter::Commit(uint64_t message, Envelope* envelope_in, CommitCallback done) {
  Envelope& envelope = *envelope_in;
  auto it = open_.find(message);
  RP_CHECK_MSG(it != open_.end(), "Commit on a message that is not open");
  OpenMessage m = std::move(it->second);
  open_.erase(it);
  Segment& s = *m.segment;
  RP_CHECK_GT(s.open_messages, 0u);
  --s.open_messages;
  if (s.failed) {
    FailLater(std::move(done), s.failure);
    return MaybeRetire(s);
  }
  envelope.message_ref = message;
  envelope.body = std::move(m.extents);
  envelope.body_bytes = m.body_bytes;
  RP_DCHECK(!envelope.queue_id.empty());
  s.parked.push_back({m.body_end, EncodeEnvelope(envelope), std::move(done)});
  ++stats_.commits;
  ReleaseParkedCommits(s);  // at once when the body is already written
  Kick(s);
}

void LogWriter::Abort(uint64_t message) {
  auto it = open_.find(message);
  if (it == open_.end()) return;
  Segment& s = *it->second.segment;
  open_.erase(it);
  RP_CHECK_GT(s.open_messages, 0u);
  --s.open_messages;
  MaybeRetire(s);
}

void LogWriter::AppendResult(const DeliveryResult& result, DurableCallback done) {
  AppendSmall(RecordType::kResult, EncodeDeliveryResult(result), std::move(done));
}

void LogWriter::AppendControl(const ControlRecord& record, DurableCallback done) {
  AppendSmall(RecordType::kControl, EncodeControlRecord(record), std::move(done));
}

void LogWriter::AppendSmall(RecordType type, absl::string_view payload, DurableCallback done) {
  Segment* s = &UsableHead(/*newest=*/true);
  if (s->failed) {
    return FailLater([done = std::move(done)](const absl::Status& status, const MessageLocation&) { done(status); },
                     s->failure);
  }
  AppendRecordTo(*s, type, payload);
  s->waiters.push_back({s->end(), [done = std::move(done)](const absl::Status& status,
                                                           const MessageLocation&) { done(status); }});
  Kick(*s);
}

void LogWriter::WhenDurable(DurableCallback done) {
  struct Barrier {
    DurableCallback done;
    size_t left = 0;
    absl::Status status;
  };
  auto barrier = std::make_shared<Barrier>();
  barrier->done = std::move(done);
  for (const auto& segment : segments_) {
    Segment& s = *segment;
    if (s.failed || s.end() <= s.synced_end) continue;
    ++barrier->left;
    // Waiters are in file order: this one, at the end, is the last so far.
    s.waiters.push_back({s.end(), [barrier](const absl::Status& status, const MessageLocation&) {
                           if (!status.ok()) barrier->status = status;
                           if (--barrier->left == 0) barrier->done(barrier->status);
                         }});
    Kick(s);
  }
  if (barrier->left > 0) return;
  FailLater([barrier](const absl::Status&, const MessageLocation&) { barrier->done(absl::OkStatus()); },
            absl::OkStatus());
}

void LogWriter::CarryStandingOrders(Segment& head) {
  if (!standing_orders_) return;
  std::vector<ControlRecord> orders = standing_orders_();
  if (orders.empty()) return;
  for (const ControlRecord& order : orders) AppendRecordTo(head, RecordType::kControl, EncodeControlRecord(order));
  // No segment is deleted until these copies are durable: an older segment may hold the
  // only durable copy of an order. A failed copy keeps deletion paused until a later
  // roll's copy makes it.
  const uint64_t carry = ++carries_;
  ledger_.PauseDeletion(true);
  head.waiters.push_back({head.end(), [this, carry](const absl::Status& status, const MessageLocation&) {
                            if (status.ok() && carry == carries_) ledger_.PauseDeletion(false);
                          }});
  Kick(head);
}

void LogWriter::ReleaseParkedCommits(Segment& s) {
  // A commit record is staged only once its whole body was written in full.
  for (auto it = s.parked.begin(); it != s.parked.end();) {
    if (it->body_end > s.written_end) {
      ++it;
      continue;
    }
    const uint64_t commit_offset = s.end();
    AppendRecordTo(s, RecordType::kCommit, it->payload);
    s.waiters.push_back({s.end(), std::move(it->done), commit_offset});
    it = s.parked.erase(it);
  }
}

void LogWriter::Kick(Segment& s) {
  (void)s;
  // Writes and syncs are issued once per loop turn (OnTurn), so everything staged in
  // one turn leaves in one write.
  kick_wanted_ = true;
  // The hook runs at the end of this turn, unless it ran already, or this turn has not
  // waited yet (a cross-shard post drained before the wait): then the wait must not sleep.
  if (turn_hook_ran_ == shard_.turns() || shard_.before_wait()) shard_.RequestTurn();
}

void LogWriter::OnTurn() {
  turn_hook_ran_ = shard_.turns();
  if (!kick_wanted_) return;
  kick_wanted_ = false;
  // Kicking may run callbacks that roll or retire segments: walk a copy of the numbers.
  absl::InlinedVector<uint32_t, 4> numbers;
  for (const auto& segment : segments_) numbers.push_back(segment->number);
  for (uint32_t number : numbers) {
    for (const auto& segment : segments_) {
      if (segment->number == number) {
        KickNow(*segment);
        break;
      }
    }
  }
  if (Segment* next = NextToSync()) SubmitSync(*next);
  if (kick_wanted_) return;  // callbacks staged more: the next turn kicks again
  // The watchdog for a lost kick: a segment with work waiting must have an operation in
  // flight that will bring it back here, or nothing would ever complete it.
  for (const auto& segment : segments_) {
    const Segment& g = *segment;
    const bool has_work = !g.pending.empty() || !g.waiters.empty() || !g.parked.empty();
    RP_CHECK_MSG(g.failed || !has_work || g.write_in_flight || syncs_in_flight_ > 0,
                 "queue log stalled: segment with work but nothing in flight");
  }
}

bool LogWriter::SyncDue(const Segment& s) const {
  // A sync only once it makes a waiter durable: one issued before the commit records
  // are written in full would need another after it.
  return !s.failed && !s.sync_in_flight && !s.waiters.empty() && s.waiters.front().end <= s.written_end;
}

LogWriter::Segment* LogWriter::NextToSync() {
  // One sync in flight per shard: each fdatasync ends in a flush of the whole device,
  // so two at once finish together and their producers come back together. One at a
  // time, the heads alternate: one group stages and writes while the other's sync runs.
  if (!options_.fsync || syncs_in_flight_ > 0) return nullptr;
  // The segment after the one synced last first, so the heads take turns.
  Segment* next = nullptr;
  for (const auto& segment : segments_) {
    if (!SyncDue(*segment)) continue;
    if (next == nullptr || (next->number <= last_synced_segment_ && segment->number > last_synced_segment_)) {
      next = segment.get();
    }
  }
  return next;
}

void LogWriter::KickNow(Segment& s) {
  if (s.failed) return;
  if (!s.write_in_flight && !s.pending.empty()) SubmitWrite(s);
  if (options_.fsync || !SyncDue(s)) return;  // syncs: OnTurn, NextToSync
  // UNSAFE benchmark mode: written counts as durable.
  s.synced_end = s.written_end;
  ReleaseDurable(s);
  MaybeRetire(s);  // no sync completion will: a finished old head closes here
}

void LogWriter::SubmitWrite(Segment& s) {
  RP_CHECK(!s.write_in_flight);
  s.inflight.swap(s.pending);
  s.inflight_offset = s.pending_offset;
  s.pending_offset += s.inflight.size();
  s.pending.clear();
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_write(sqe, s.fd, s.inflight.data(), static_cast<unsigned>(s.inflight.size()),
                      s.inflight_offset);
  if (faults_ != nullptr) {
    faults_->shadow[s.path].write_offset = s.inflight_offset;
    faults_->shadow[s.path].write_bytes = s.inflight.size();
  }
  io_uring_sqe_set_data64(sqe, core::OpTag{s.number, 0, core::OpKind::kFileWrite}.Encode());
  s.write_in_flight = true;
  shard_.Hold();  // a stopping shard waits for it (delivery results written at shutdown)
}

void LogWriter::SubmitSync(Segment& s) {
  RP_CHECK(!s.sync_in_flight);
  // The sync covers what was written in full before it was issued, nothing more.
  s.sync_target = s.written_end;
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_fsync(sqe, s.fd, IORING_FSYNC_DATASYNC);
  if (faults_ != nullptr) faults_->shadow[s.path].sync_covers = faults_->shadow[s.path].written;
  io_uring_sqe_set_data64(sqe, core::OpTag{s.number, 0, core::OpKind::kFileSync}.Encode());
  s.sync_in_flight = true;
  ++syncs_in_flight_;
  last_synced_segment_ = s.number;
  if (faults_ != nullptr)
    faults_->syncs_in_flight_peak = std::max(faults_->syncs_in_flight_peak, syncs_in_flight_);
  shard_.Hold();
}

void LogWriter::OnCompletion(const core::Completion& completion) {
  shard_.Release();  // every write and sync held the shard while in flight
  const core::OpTag tag = core::OpTag::Decode(completion.user_data);
  Segment* s = nullptr;
  for (auto& candidate : segments_) {
    if (candidate->number == tag.slot) s = candidate.get();
  }
  RP_CHECK_MSG(s != nullptr, "log completion for a segment that is not active");
  if (tag.kind == core::OpKind::kFileWrite) {
    OnWrite(*s, completion.res);
  } else {
    OnSync(*s, completion.res);
  }
  MaybeRetire(*s);  // safe even if callbacks retired it already: retired objects live to turn end
}

void LogWriter::OnWrite(Segment& s, int32_t result) {
  RP_CHECK(s.write_in_flight);
  s.write_in_flight = false;
  ++writes_seen_;
  if (faults_ != nullptr) {
    LogFaults::FileShadow& shadow = faults_->shadow[s.path];
    // The kernel wrote what it reported, whatever we pretend below.
    if (result > 0 && shadow.write_offset == shadow.written) shadow.written += static_cast<uint64_t>(result);
    if (Armed(faults_->fail_write_after)) result = -faults_->write_errno;
    if (Armed(faults_->short_write_after) && result > 0) result -= 1;
  }
  if (result < 0) {
    if (result == -ENOSPC || result == -EDQUOT) free_space_low_ = true;  // until the next look says otherwise
    return FailSegment(s, StorageError(-result, absl::StrCat("write ", s.path)));
  }
  if (static_cast<size_t>(result) != s.inflight.size()) {
    // A short write is an error, not a retry: what reached the file is unknown. On a
    // file it means the file system took no more (space, quota or size limit): a full
    // disk, for the client (452 4.3.1).
    return FailSegment(s, absl::ResourceExhaustedError(absl::StrCat("short write to ", s.path, " (no space)")));
  }
  ++stats_.writes;
  stats_.write_bytes += s.inflight.size();
  s.written_end = s.inflight_offset + s.inflight.size();
  s.inflight = recent_writes_.Keep(s.number, s.inflight_offset, std::move(s.inflight));
  ReleaseParkedCommits(s);
  Kick(s);
}

void LogWriter::OnSync(Segment& s, int32_t result) {
  RP_CHECK(s.sync_in_flight);
  s.sync_in_flight = false;
  --syncs_in_flight_;
  ++syncs_seen_;
  if (faults_ != nullptr) {
    LogFaults::FileShadow& shadow = faults_->shadow[s.path];
    if (Armed(faults_->fail_sync_after)) result = -EIO;
    if (result >= 0) shadow.durable = shadow.sync_covers;
  }
  if (result < 0) {
    // Never retried and then believed (fsyncgate): the segment is finished.
    FailSegment(s, StorageError(-result, absl::StrCat("fdatasync ", s.path)));
    return Kick(s);  // another segment may be waiting for the sync slot
  }
  ++stats_.syncs;
  s.synced_end = s.sync_target;
  ReleaseDurable(s);
  Kick(s);
}

void LogWriter::ReleaseDurable(Segment& s) {
  // The spare buffer is taken, not borrowed: a callback that ends in here again finds
  // none and makes its own.
  std::vector<Segment::Waiter> durable;
  durable.swap(durable_spare_->waiters);
  while (!s.waiters.empty() && s.waiters.front().end <= s.synced_end) {
    durable.push_back(std::move(s.waiters.front()));
    s.waiters.pop_front();
  }
  // The device is free: the other head's sync starts now, before these callbacks
  // restage their producers' next messages (a good part of a sync's time).
  if (Segment* next = NextToSync()) {
    SubmitSync(*next);
    shard_.ring().SubmitNow();
  }
  const uint32_t number = s.number;  // callbacks may roll and retire `s`
  for (Segment::Waiter& waiter : durable) {
    if (waiter.commit_offset != 0) ledger_.Pin(number);  // a durable message pins its segment
    waiter.done(absl::OkStatus(), MessageLocation{number, waiter.commit_offset});
  }
  durable.clear();
  if (durable.capacity() > durable_spare_->waiters.capacity()) durable_spare_->waiters.swap(durable);
}

void LogWriter::FailSegment(Segment& s, const absl::Status& status) {
  RP_LOG(kError) << "queue log segment " << s.path << " failed and is sealed: " << status;
  ++stats_.failures;
  s.failed = true;
  s.failure = status;
  s.pending.clear();
  // Nothing unsynced is acknowledged; every waiter hears the error.
  std::deque<Segment::Waiter> waiters = std::move(s.waiters);
  std::deque<Segment::Parked> parked = std::move(s.parked);
  s.waiters.clear();
  s.parked.clear();
  for (auto& w : waiters) w.done(status, MessageLocation{});
  for (auto& p : parked) p.done(status, MessageLocation{});
}

void LogWriter::MaybeRetire(Segment& s) {
  if (s.fd < 0 || s.head || !s.idle()) return;  // fd < 0: retired already
  if (!s.failed && !s.sealing) {
    // Finish the segment with a seal record, so recovery can tell a complete segment
    // (where any bad record is corruption) from one cut short by a crash.
    s.sealing = true;
    AppendRecordTo(s, RecordType::kSeal, "");
    s.waiters.push_back({s.end(), [](const absl::Status&, const MessageLocation&) {}});
    Kick(s);
    return;
  }
  // Sealed and synced (or failed) with nothing in flight: close it. Reclamation
  // deletes it once every message in it is finished. A reused file is cut after its
  // seal, so the seal is where recovery looks for it: the file's end.
  if (s.recycled && !s.failed) {
    if (ftruncate(s.fd, static_cast<off_t>(s.end())) != 0) {
      RP_LOG(kWarning) << "cannot trim reused segment " << s.path << ": " << strerror(errno);
    }
  }
  close(s.fd);
  s.fd = -1;
  for (std::string* buffer : {&s.pending, &s.inflight}) {
    if (spare_buffers_.size() >= 2 * heads_.size()) break;
    buffer->clear();
    spare_buffers_.push_back(std::move(*buffer));
  }
  const uint32_t number = s.number;
  // Callers up the stack may still hold `s` (a completion handler whose callbacks rolled
  // the log): the object itself is freed at the end of the loop turn.
  for (auto it = segments_.begin(); it != segments_.end(); ++it) {
    if (it->get() == &s) {
      shard_.DeferDelete(std::move(*it));
      segments_.erase(it);
      break;
    }
  }
  ledger_.FinishedWriting(number);
}

void LogWriter::AdoptRecovered(uint32_t segment, const std::string& path, uint32_t live_messages) {
  RP_CHECK_LT(segment, next_number_);  // recovered segments are older than ours
  ledger_.Adopt(segment, path, live_messages);
}

void LogWriter::MessageFinished(uint32_t segment) { ledger_.Unpin(segment); }

uint64_t LogWriter::staged_bytes() const {
  uint64_t bytes = 0;
  for (const auto& s : segments_) bytes += s->pending.size() + s->inflight.size();
  return bytes;
}

LogWriter::Stats LogWriter::stats() const {
  Stats stats = stats_;
  stats.segments_deleted = ledger_.deleted();
  return stats;
}

}  // namespace ringpost::queue
