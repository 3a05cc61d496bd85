#include "queue/log_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace ringpost::queue {

absl::StatusOr<Envelope> ReadEnvelope(const std::string& segment_path, uint64_t commit_offset) {
  const int fd = open(segment_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", segment_path));
  std::string header(kRecordHeaderBytes, '\0');
  std::string record;
  ssize_t n = pread(fd, header.data(), header.size(), static_cast<off_t>(commit_offset));
  if (n == static_cast<ssize_t>(header.size())) {
    const uint32_t payload_bytes = static_cast<uint32_t>(static_cast<uint8_t>(header[4])) |
                                   static_cast<uint32_t>(static_cast<uint8_t>(header[5])) << 8 |
                                   static_cast<uint32_t>(static_cast<uint8_t>(header[6])) << 16 |
                                   static_cast<uint32_t>(static_cast<uint8_t>(header[7])) << 24;
    if (payload_bytes <= kRecordPayloadBytesMax) {
      record.resize(kRecordHeaderBytes + payload_bytes);
      n = pread(fd, record.data(), record.size(), static_cast<off_t>(commit_offset));
      if (n != static_cast<ssize_t>(record.size())) record.clear();
    }
  }
  close(fd);
  DecodedRecord decoded;
  if (record.empty() || DecodeRecord(record, &decoded) != DecodeStatus::kOk ||
      decoded.header.type != RecordType::kCommit) {
    return absl::DataLossError(absl::StrCat("no commit record at ", segment_path, ":", commit_offset));
  }
  return DecodeEnvelope(decoded.payload);
}

absl::StatusOr<std::string> ReadBody(const std::string& segment_path, const Envelope& envelope) {
  const int fd = open(segment_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", segment_path));
  std::string body;
  body.reserve(envelope.body_bytes);
  absl::Status status = absl::OkStatus();
  for (const BodyExtent& extent : envelope.body) {
    // Read the whole body record so its CRC is checked, not just the bytes.
    const uint64_t record_offset = extent.offset - kBodyChunkPrefixBytes - kRecordHeaderBytes;
    std::string record(kRecordHeaderBytes + kBodyChunkPrefixBytes + extent.bytes, '\0');
    const ssize_t n = pread(fd, record.data(), record.size(), static_cast<off_t>(record_offset));
    DecodedRecord decoded;
    if (n != static_cast<ssize_t>(record.size()) || DecodeRecord(record, &decoded) != DecodeStatus::kOk ||
        decoded.header.type != RecordType::kBody) {
      status = absl::DataLossError(absl::StrCat("bad body record at ", segment_path, ":", record_offset));
      break;
    }
    const absl::string_view bytes = decoded.payload.substr(kBodyChunkPrefixBytes);
    body.append(bytes.data(), bytes.size());
  }
  close(fd);
  if (!status.ok()) return status;
  return body;
}

}  // namespace ringpost::queue
