// Reading messages back from the log: the reader API that delivery, compaction and
// ringpost-queue use. A message's envelope comes from its commit record, its body from
// the body records the envelope names; both verify the CRC of every record they read
// and return DataLoss when one does not match. Plain preads (the page cache usually
// holds a young message): a zero-copy path through mapped sealed segments or
// registered buffers is left for the delivery issue to measure.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "queue/record.h"

namespace ringpost::queue {

absl::StatusOr<Envelope> ReadEnvelope(const std::string& segment_path, uint64_t commit_offset);
absl::StatusOr<std::string> ReadBody(const std::string& segment_path, const Envelope& envelope);

}  // namespace ringpost::queue
