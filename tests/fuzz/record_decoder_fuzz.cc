// Fuzz target: the queue record decoder and payload decoders on arbitrary bytes.
// Never a crash; whatever decodes re-encodes to the same bytes; a record read in two
// parts (the body reader's way) decodes exactly when the whole of it does.
//
// Arbitrary bytes almost never carry a valid CRC32C, which would stop every record at
// the first check. So the input is also read as a run of records whose checksums the
// harness fixes first: the checks after the CRC (length, type, padding) and the
// payload decoders (envelopes of commit records, delivery results) then see every
// input, record after record, as they would a segment's.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "queue/crc32c.h"
#include "queue/record.h"

namespace {

using ringpost::queue::DecodedRecord;
using ringpost::queue::DecodeStatus;

uint32_t Le32(const std::string& s, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[at])) | static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3])) << 24;
}

void CheckPayload(const DecodedRecord& record) {
  using ringpost::queue::RecordType;
  if (record.header.type == RecordType::kCommit) {
    if (auto envelope = ringpost::queue::DecodeEnvelope(record.payload); envelope.ok()) {
      RP_CHECK(ringpost::queue::EncodeEnvelope(*envelope) == record.payload);
    }
  } else if (record.header.type == RecordType::kResult) {
    if (auto result = ringpost::queue::DecodeDeliveryResult(record.payload); result.ok()) {
      RP_CHECK(ringpost::queue::EncodeDeliveryResult(*result) == record.payload);
    }
  } else if (record.header.type == RecordType::kControl) {
    if (auto control = ringpost::queue::DecodeControlRecord(record.payload); control.ok()) {
      RP_CHECK(ringpost::queue::EncodeControlRecord(*control) == record.payload);
    }
  }
}

// Every record of `input` in turn, each with its checksum made right.
void DecodeWithFixedChecksums(absl::string_view input) {
  using ringpost::queue::kRecordHeaderBytes;
  std::string bytes(input);
  size_t at = 0;
  while (at + kRecordHeaderBytes <= bytes.size()) {
    const uint32_t payload_bytes = Le32(bytes, at + 4);
    if (payload_bytes > ringpost::queue::kRecordPayloadBytesMax) break;
    const size_t total = kRecordHeaderBytes + payload_bytes;
    if (total > bytes.size() - at) break;
    const uint32_t crc = ringpost::queue::Crc32c(absl::string_view(bytes).substr(at + 4, total - 4));
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(crc >> (8 * i));
    DecodedRecord record;
    const DecodeStatus status = ringpost::queue::DecodeRecord(absl::string_view(bytes).substr(at), &record);
    RP_CHECK(status != DecodeStatus::kIncomplete);  // the whole record is there
    if (status != DecodeStatus::kOk) break;         // a bad type or padding: corrupt, as a scan would stop
    RP_CHECK_EQ(record.total_bytes, total);
    std::string again;
    ringpost::queue::AppendRecord(record.header.type, record.header.generation, record.header.sequence,
                                  record.payload, &again);
    RP_CHECK(again == absl::string_view(bytes).substr(at, total));
    CheckPayload(record);
    at += total;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  DecodedRecord record;
  if (ringpost::queue::DecodeRecord(input, &record) == DecodeStatus::kOk) {
    std::string again;
    ringpost::queue::AppendRecord(record.header.type, record.header.generation, record.header.sequence,
                                  record.payload, &again);
    RP_CHECK(again == input.substr(0, record.total_bytes));
  }
  // Split where the first byte says, as a body record lands in a header buffer and the body.
  if (size >= ringpost::queue::kRecordHeaderBytes) {
    const size_t cut = ringpost::queue::kRecordHeaderBytes + data[0] % 64;
    if (cut <= size) {
      ringpost::queue::RecordHeader header;
      const bool whole = ringpost::queue::DecodeRecord(input, &record) == DecodeStatus::kOk &&
                         record.total_bytes == size;
      const bool parts = ringpost::queue::DecodeRecordInParts(input.substr(0, cut), input.substr(cut),
                                                              &header) == DecodeStatus::kOk;
      RP_CHECK(whole == parts);
      if (parts)
        RP_CHECK(header.payload_bytes == record.header.payload_bytes && header.type == record.header.type);
    }
  }
  DecodeWithFixedChecksums(input);
  if (auto envelope = ringpost::queue::DecodeEnvelope(input); envelope.ok()) {
    RP_CHECK(ringpost::queue::EncodeEnvelope(*envelope) == input);
  }
  if (auto result = ringpost::queue::DecodeDeliveryResult(input); result.ok()) {
    RP_CHECK(ringpost::queue::EncodeDeliveryResult(*result) == input);
  }
  (void)ringpost::queue::DecodeSegmentHeader(input);
  return 0;
}
