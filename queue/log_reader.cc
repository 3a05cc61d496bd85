#include "queue/log_reader.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/check.h"

namespace ringpost::queue {

namespace {

uint32_t PayloadBytes(absl::string_view header) {
  return static_cast<uint32_t>(static_cast<uint8_t>(header[4])) |
         static_cast<uint32_t>(static_cast<uint8_t>(header[5])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(header[6])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(header[7])) << 24;
}

// The whole record at `offset`, CRC unchecked yet; empty when it cannot be read.
std::string ReadRecordAt(int fd, uint64_t offset) {
  // One read covers most commit records (an envelope of a few recipients).
  constexpr size_t kFirstRead = 4096;
  std::string record(kFirstRead, '\0');
  const ssize_t n = pread(fd, record.data(), record.size(), static_cast<off_t>(offset));
  if (n < static_cast<ssize_t>(kRecordHeaderBytes)) return "";
  const uint32_t payload_bytes = PayloadBytes(record);
  if (payload_bytes > kRecordPayloadBytesMax) return "";
  const size_t total = kRecordHeaderBytes + payload_bytes;
  if (total <= static_cast<size_t>(n)) {
    record.resize(total);
    return record;
  }
  record.resize(total);
  const size_t have = static_cast<size_t>(n);
  const ssize_t rest = pread(fd, record.data() + have, total - have, static_cast<off_t>(offset + have));
  if (rest != static_cast<ssize_t>(total - have)) return "";
  return record;
}

}  // namespace

absl::StatusOr<Envelope> ReadEnvelopeAt(int fd, const std::string& segment_path, uint64_t commit_offset) {
  const std::string record = ReadRecordAt(fd, commit_offset);
  DecodedRecord decoded;
  if (record.empty() || DecodeRecord(record, &decoded) != DecodeStatus::kOk ||
      decoded.header.type != RecordType::kCommit) {
    return absl::DataLossError(absl::StrCat("no commit record at ", segment_path, ":", commit_offset));
  }
  return DecodeEnvelope(decoded.payload);
}

absl::Status ReadBodyInto(int fd, const std::string& segment_path, const BodyLocation& location,
                          std::string* out) {
  std::string& body = *out;
  // The extents must make up the body exactly before a byte is allocated for it.
  if (!ExtentsMakeUpBody(location)) {
    return absl::DataLossError(absl::StrCat("body extents do not make up the body at ", segment_path));
  }
  // Growing past the capacity would copy the old bytes first: start empty instead.
  if (location.bytes > body.capacity()) body.clear();
  body.resize(location.bytes);
  // Each record's header and chunk prefix land in `heads`, its bytes straight in place:
  // the kernel's copy out of the page cache is the only one, and every record's CRC is
  // still checked. Records that follow each other in the file (a message written while
  // no other was) are read by one preadv.
  constexpr size_t kHeadBytes = kRecordHeaderBytes + kBodyChunkPrefixBytes;
  constexpr size_t kRecordsPerRead = 32;
  char heads[kRecordsPerRead][kHeadBytes];
  iovec parts[2 * kRecordsPerRead];
  uint64_t at = 0;
  for (size_t first = 0; first < location.extents.size();) {
    const uint64_t read_offset = location.extents[first].offset - kHeadBytes;
    size_t count = 0;
    uint64_t read_bytes = 0, place = at;
    for (; first + count < location.extents.size() && count < kRecordsPerRead; ++count) {
      const BodyExtent& extent = location.extents[first + count];
      if (extent.offset < kHeadBytes) {
        return absl::DataLossError(absl::StrCat("a body extent before any record at ", segment_path));
      }
      if (count > 0 && extent.offset - kHeadBytes != read_offset + read_bytes) break;  // not adjacent
      parts[2 * count] = {heads[count], kHeadBytes};
      parts[2 * count + 1] = {body.data() + place, extent.bytes};
      read_bytes += kHeadBytes + extent.bytes;
      place += extent.bytes;
    }
    const ssize_t n = preadv(fd, parts, static_cast<int>(2 * count), static_cast<off_t>(read_offset));
    if (n != static_cast<ssize_t>(read_bytes)) {
      return absl::DataLossError(
          absl::StrCat("cannot read the body records at ", segment_path, ":", read_offset));
    }
    for (size_t i = 0; i < count; ++i) {
      const BodyExtent& extent = location.extents[first + i];
      const absl::string_view bytes(body.data() + at, extent.bytes);
      if (!IsBodyChunkOf(absl::string_view(heads[i], kHeadBytes), bytes, location.message_ref)) {
        return absl::DataLossError(
            absl::StrCat("bad body record at ", segment_path, ":", extent.offset - kHeadBytes));
      }
      at += extent.bytes;
    }
    first += count;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadBodyAt(int fd, const std::string& segment_path, const Envelope& envelope) {
  std::string body;
  RP_RETURN_IF_ERROR(ReadBodyInto(fd, segment_path, BodyOf(envelope), &body));
  return body;
}

absl::StatusOr<Envelope> ReadEnvelope(const std::string& segment_path, uint64_t commit_offset) {
  const int fd = open(segment_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", segment_path));
  absl::StatusOr<Envelope> envelope = ReadEnvelopeAt(fd, segment_path, commit_offset);
  close(fd);
  return envelope;
}

absl::StatusOr<std::string> ReadBody(const std::string& segment_path, const Envelope& envelope) {
  const int fd = open(segment_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", segment_path));
  absl::StatusOr<std::string> body = ReadBodyAt(fd, segment_path, envelope);
  close(fd);
  return body;
}

SegmentFiles::~SegmentFiles() {
  for (const auto& [path, file] : files_) {
    if (file.fd >= 0) close(file.fd);
  }
}

void SegmentFiles::Acquire(const std::string& segment_path) { ++files_[segment_path].users; }

void SegmentFiles::Release(const std::string& segment_path) {
  auto it = files_.find(segment_path);
  if (it == files_.end() || --it->second.users > 0) return;
  if (it->second.fd >= 0) close(it->second.fd);
  files_.erase(it);
}

absl::StatusOr<int> SegmentFiles::Open(const std::string& segment_path) {
  auto it = files_.find(segment_path);
  if (it == files_.end()) return absl::FailedPreconditionError(absl::StrCat("not acquired: ", segment_path));
  if (it->second.fd >= 0) return it->second.fd;
  const int fd = open(segment_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", segment_path));
  it->second.fd = fd;
  return fd;
}

size_t SegmentFiles::open_files() const {
  size_t n = 0;
  for (const auto& [path, file] : files_) n += file.fd >= 0 ? 1 : 0;
  return n;
}

absl::Status BodyReader::Read(const std::string& path, const BodyLocation& location, std::string* body) {
  absl::StatusOr<int> fd = files_.Open(path);
  if (!fd.ok()) return fd.status();
  TakeSpare(location.bytes, body);
  absl::Status read = ReadBodyInto(*fd, path, location, body);
  if (!read.ok()) Recycle(body);
  return read;
}

void BodyReader::TakeSpare(size_t bytes, std::string* body) {
  if (body->capacity() >= kSpareBodyBytesMin) return;  // it has one (a read from memory that missed)
  if (!spare_.empty()) {
    body->swap(spare_.back());
    spare_.pop_back();
  } else {
    // At least kSpareBodyBytesMin, so a small body's buffer is kept for the next one.
    body->reserve(std::max<size_t>(bytes, kSpareBodyBytesMin));
  }
}

void BodyReader::Recycle(std::string* body) {
  std::string buffer;
  buffer.swap(*body);
  if (spare_.size() < kSpareBodies && buffer.capacity() >= kSpareBodyBytesMin &&
      buffer.capacity() <= kSpareBodyBytesMax) {
    spare_.push_back(std::move(buffer));
  }
}

}  // namespace ringpost::queue
