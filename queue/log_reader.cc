#include "queue/log_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

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

absl::StatusOr<std::string> ReadBodyAt(int fd, const std::string& segment_path, const Envelope& envelope) {
  std::string body;
  body.reserve(envelope.body_bytes);
  std::string record;
  for (const BodyExtent& extent : envelope.body) {
    // Read the whole body record so its CRC is checked, not just the bytes.
    const uint64_t record_offset = extent.offset - kBodyChunkPrefixBytes - kRecordHeaderBytes;
    record.resize(kRecordHeaderBytes + kBodyChunkPrefixBytes + extent.bytes);
    const ssize_t n = pread(fd, record.data(), record.size(), static_cast<off_t>(record_offset));
    DecodedRecord decoded;
    if (n != static_cast<ssize_t>(record.size()) || DecodeRecord(record, &decoded) != DecodeStatus::kOk ||
        decoded.header.type != RecordType::kBody) {
      return absl::DataLossError(absl::StrCat("bad body record at ", segment_path, ":", record_offset));
    }
    const absl::string_view bytes = decoded.payload.substr(kBodyChunkPrefixBytes);
    body.append(bytes.data(), bytes.size());
  }
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

}  // namespace ringpost::queue
