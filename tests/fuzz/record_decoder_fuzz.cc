// Fuzz target: the queue record decoder and payload decoders on arbitrary bytes.
// Never a crash; whatever decodes re-encodes to the same bytes.
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
  if (auto envelope = ringpost::queue::DecodeEnvelope(input); envelope.ok()) {
    RP_CHECK(ringpost::queue::EncodeEnvelope(*envelope) == input);
  }
  if (auto result = ringpost::queue::DecodeDeliveryResult(input); result.ok()) {
    RP_CHECK(ringpost::queue::EncodeDeliveryResult(*result) == input);
  }
  (void)ringpost::queue::DecodeSegmentHeader(input);
  return 0;
}
