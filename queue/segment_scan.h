// Reads a whole segment's bytes back into what they promise: the committed messages
// (with their body extents checked against the body records), the delivery results,
// and where the good records end.
//
// Pure: bytes in, a description out; recovery decides what to do with it. Scanning
// stops at the first record that is incomplete, fails its CRC, carries another
// generation (stale bytes of a recycled file), breaks the sequence, or commits body
// extents that the segment does not hold. In the segment being written that is the
// torn tail (cut it); in a sealed segment (one whose writer finished it with a seal
// record) it is corruption (quarantine it). A sealed segment's scan stops at its seal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "queue/record.h"

namespace ringpost::queue {

struct ScannedMessage {
  Envelope envelope;
  uint64_t commit_offset = 0;
  uint64_t sequence = 0;
};

struct ScannedResult {
  DeliveryResult result;
  uint64_t sequence = 0;
};

struct SegmentScan {
  SegmentHeader header;
  std::vector<ScannedMessage> messages;
  std::vector<ScannedResult> results;
  std::vector<ControlRecord> controls;
  uint64_t valid_bytes = 0;    // the good records end here
  uint64_t last_sequence = 0;  // of the last good record (0: none)
  bool clean_end = false;      // nothing after the good records
  bool sealed = false;         // ends with its seal record: any early stop is corruption
  std::string stop_reason;     // why scanning stopped early (empty on a clean end)
};

// DataLoss when the segment header itself is bad.
absl::StatusOr<SegmentScan> ScanSegment(absl::string_view bytes);

}  // namespace ringpost::queue
