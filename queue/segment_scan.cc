#include "queue/segment_scan.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "queue/wire.h"

namespace ringpost::queue {
namespace {

struct ChunkInfo {
  uint64_t message_ref;
  uint32_t bytes;
};

// Every extent must be a body record of this message, of exactly that size.
bool ExtentsPresent(const Envelope& envelope, const absl::flat_hash_map<uint64_t, ChunkInfo>& chunks) {
  for (const BodyExtent& extent : envelope.body) {
    auto it = chunks.find(extent.offset);
    if (it == chunks.end() || it->second.bytes != extent.bytes ||
        it->second.message_ref != envelope.message_ref) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<SegmentScan> ScanSegment(absl::string_view bytes) {
  absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(bytes);
  if (!header.ok()) return header.status();
  SegmentScan scan;
  scan.header = *header;
  // A finished segment ends with a seal record. Look at the end first: damage before
  // the seal must read as corruption, not as a torn tail.
  if (bytes.size() >= kSegmentHeaderBytes + kRecordHeaderBytes) {
    DecodedRecord last;
    scan.sealed = DecodeRecord(bytes.substr(bytes.size() - kRecordHeaderBytes), &last) == DecodeStatus::kOk &&
                  last.header.type == RecordType::kSeal && last.header.generation == scan.header.generation;
  }
  absl::flat_hash_map<uint64_t, ChunkInfo> chunks;
  uint64_t offset = kSegmentHeaderBytes;
  for (;;) {
    if (offset == bytes.size()) {
      scan.clean_end = true;
      break;
    }
    DecodedRecord record;
    const DecodeStatus status = DecodeRecord(bytes.substr(offset), &record);
    if (status != DecodeStatus::kOk) {
      scan.stop_reason = status == DecodeStatus::kIncomplete ? "incomplete record" : "bad record";
      break;
    }
    if (record.header.generation != scan.header.generation) {
      scan.stop_reason = "record of another generation";
      break;
    }
    if (scan.last_sequence != 0 && record.header.sequence != scan.last_sequence + 1) {
      scan.stop_reason = "sequence gap";
      break;
    }
    bool valid = true;
    switch (record.header.type) {
      case RecordType::kBody: {
        if (record.payload.size() < kBodyChunkPrefixBytes) {
          valid = false;
          break;
        }
        ByteReader r(record.payload);
        const uint64_t message_ref = r.U64();
        chunks[offset + kRecordHeaderBytes + kBodyChunkPrefixBytes] =
            ChunkInfo{message_ref, static_cast<uint32_t>(record.payload.size() - kBodyChunkPrefixBytes)};
        break;
      }
      case RecordType::kCommit: {
        absl::StatusOr<Envelope> envelope = DecodeEnvelope(record.payload);
        valid = envelope.ok() && ExtentsPresent(*envelope, chunks);
        if (valid) scan.messages.push_back({std::move(*envelope), offset, record.header.sequence});
        break;
      }
      case RecordType::kResult: {
        absl::StatusOr<DeliveryResult> result = DecodeDeliveryResult(record.payload);
        valid = result.ok();
        if (valid) scan.results.push_back({std::move(*result), record.header.sequence});
        break;
      }
      case RecordType::kSeal:
        valid = record.payload.empty() && offset + record.total_bytes == bytes.size();
        break;
      case RecordType::kControl: {
        absl::StatusOr<ControlRecord> control = DecodeControlRecord(record.payload);
        valid = control.ok();
        if (valid) scan.controls.push_back(std::move(*control));
        break;
      }
    }
    if (!valid) {
      scan.stop_reason = "malformed payload";
      break;
    }
    scan.last_sequence = record.header.sequence;
    offset += record.total_bytes;
  }
  scan.valid_bytes = offset;
  return scan;
}

}  // namespace ringpost::queue
