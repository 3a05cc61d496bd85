// Fuzz target: the queue record decoder and payload decoders on arbitrary bytes.
// Never a crash; whatever decodes re-encodes to the same bytes; a record read in two
// parts (the body reader's way) decodes exactly when the whole of it does.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "queue/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  ringpost::queue::DecodedRecord record;
  if (ringpost::queue::DecodeRecord(input, &record) == ringpost::queue::DecodeStatus::kOk) {
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
      const bool whole =
          ringpost::queue::DecodeRecord(input, &record) == ringpost::queue::DecodeStatus::kOk &&
          record.total_bytes == size;
      const bool parts = ringpost::queue::DecodeRecordInParts(input.substr(0, cut), input.substr(cut),
                                                              &header) == ringpost::queue::DecodeStatus::kOk;
      RP_CHECK(whole == parts);
      if (parts)
        RP_CHECK(header.payload_bytes == record.header.payload_bytes && header.type == record.header.type);
    }
  }
  if (auto envelope = ringpost::queue::DecodeEnvelope(input); envelope.ok()) {
    RP_CHECK(ringpost::queue::EncodeEnvelope(*envelope) == input);
  }
  if (auto result = ringpost::queue::DecodeDeliveryResult(input); result.ok()) {
    RP_CHECK(ringpost::queue::EncodeDeliveryResult(*result) == input);
  }
  (void)ringpost::queue::DecodeSegmentHeader(input);
  return 0;
}
