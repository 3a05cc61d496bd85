// The queue log's on-disk format (DESIGN.md, The log): a segment header, then records.
//
//   segment header (32 bytes): "RPLOGv01" | version u32 | shard u32 | generation u32 |
//                              number u32 | reserved u32 | crc32c u32 (of the first 28)
//   record: crc32c u32 | payload_bytes u32 | type u8 | 0 u8[3] | generation u32 |
//           sequence u64 | payload
//
// The record CRC covers everything after the CRC field. `generation` is the segment's
// (a recycled file's stale records carry an older one: after a power loss they look
// whole but are not ours); `sequence` rises by one per record in a shard's log.
// All integers little-endian. Pure code: encoders append to a string, decoders read
// views, both bounded (kRecordPayloadBytesMax).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ringpost::queue {

inline constexpr absl::string_view kSegmentMagic = "RPLOGv01";
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 32;
inline constexpr size_t kRecordHeaderBytes = 24;
inline constexpr uint32_t kRecordPayloadBytesMax = 1 << 20;

struct SegmentHeader {
  uint32_t version = kSegmentVersion;
  uint32_t shard = 0;
  uint32_t generation = 0;
  uint32_t number = 0;
};
std::string EncodeSegmentHeader(const SegmentHeader& header);
absl::StatusOr<SegmentHeader> DecodeSegmentHeader(absl::string_view bytes);

enum class RecordType : uint8_t {
  kBody = 1,    // a chunk of a message body: message_ref u64 | bytes
  kCommit = 2,  // a message's envelope and body extents: it exists from here on
  kResult = 3,  // a recipient's delivery outcome
  kSeal = 4,    // the last record of a finished segment: nothing may follow it
  kControl = 5, // an operator's standing order (a destination suspended or resumed)
};

struct RecordHeader {
  RecordType type = RecordType::kBody;
  uint32_t payload_bytes = 0;
  uint32_t generation = 0;
  uint64_t sequence = 0;
};

// Appends one record to `out`.
void AppendRecord(RecordType type, uint32_t generation, uint64_t sequence, absl::string_view payload,
                  std::string* out);
// The same with the payload given in two pieces (a body chunk's prefix and its bytes),
// so body bytes are copied once, straight into the staging buffer the CRC pass reads.
void AppendRecordParts(RecordType type, uint32_t generation, uint64_t sequence, absl::string_view first,
                       absl::string_view second, std::string* out);

// The same with the payload gathered from any number of pieces (a body chunk's prefix
// and the views a DATA reader emitted), still one copy into `out`.
void AppendRecordGather(RecordType type, uint32_t generation, uint64_t sequence,
                        absl::Span<const absl::string_view> pieces, std::string* out);

enum class DecodeStatus { kOk, kIncomplete, kCorrupt };
struct DecodedRecord {
  RecordHeader header;
  absl::string_view payload;
  size_t total_bytes = 0;
};
// Decodes the record at the start of `input`. kIncomplete: `input` ends inside it;
// kCorrupt: bad CRC, length or type.
DecodeStatus DecodeRecord(absl::string_view input, DecodedRecord* out);
// The same for a whole record read into two places (a body read straight into the
// buffer delivery sends from): `head` is its header and the payload's first bytes,
// `rest` the remainder of the payload. kCorrupt unless the two make exactly one record.
DecodeStatus DecodeRecordInParts(absl::string_view head, absl::string_view rest, RecordHeader* out);

// Body chunk payload: the message it belongs to (a per-shard reference), then bytes.
inline constexpr size_t kBodyChunkPrefixBytes = 8;

struct Recipient {
  std::string address;
  std::string params;  // ESMTP parameters as received (NOTIFY=..., ORCPT=...)
  // The delivery state carried along when compaction rewrites a message forward (the
  // result records that said it may be deleted with the old segment). Fresh messages
  // have zeros.
  bool final = false;
  uint32_t attempts = 0;
  uint64_t next_attempt_unix_micros = 0;
  bool held = false;  // recovery only (never encoded): an operator holds it
};

// Where a body chunk's bytes are, in the same segment as the commit.
struct BodyExtent {
  uint64_t offset = 0;  // file offset of the chunk's first body byte
  uint32_t bytes = 0;
  bool operator==(const BodyExtent&) const = default;
};

// Where a message's body is in its segment: what a reader needs to read it back
// without its envelope (the commit record lists the same extents).
struct BodyLocation {
  uint64_t message_ref = 0;  // matches the body chunks' prefix
  std::vector<BodyExtent> extents;
  uint64_t bytes = 0;
};

// A body chunk record as a reader gets it, its header and chunk prefix in `head`
// (kRecordHeaderBytes + kBodyChunkPrefixBytes) and its body bytes in `bytes`: true when
// it is intact (length, CRC) and a body chunk of message `message_ref`. Every reader of
// a body (from the file, or from the writer's recent writes) checks each record so.
bool IsBodyChunkOf(absl::string_view head, absl::string_view bytes, uint64_t message_ref);
// True when the extents' bytes add up to the body's length (checked before reading).
bool ExtentsMakeUpBody(const BodyLocation& location);

struct Envelope {
  std::string queue_id;
  uint64_t message_ref = 0;  // matches the body chunks' prefix
  uint64_t arrival_unix_micros = 0;
  std::string client_address;
  std::string helo;
  std::string protocol;  // ESMTP, ESMTPS, UTF8SMTP... (RFC 3848)
  std::string tls;       // "TLSv1.3 TLS_AES_128_GCM_SHA256" or empty
  std::string mail_from;
  std::string mail_params;
  std::vector<Recipient> recipients;
  std::vector<BodyExtent> body;
  uint64_t body_bytes = 0;
  // The egress pool it leaves through (--egress_pools), empty for the default. Encoded
  // after body_bytes only when set, so envelopes without one keep their older layout.
  std::string pool;
};

inline constexpr size_t kEnvelopeStringBytesMax = 64 * 1024;
inline constexpr size_t kEnvelopeRecipientsMax = 100000;
inline constexpr size_t kEnvelopeExtentsMax = 1 << 16;

std::string EncodeEnvelope(const Envelope& envelope);
BodyLocation BodyOf(const Envelope& envelope);
absl::StatusOr<Envelope> DecodeEnvelope(absl::string_view payload);

// kRelocated: compaction copied the recipient into a newer message (another queue id);
// final for this one, so its old segment can go. kDeleted: an operator removed it
// (final, no DSN). kHeld / kReleased: an operator held the message (not attempted until
// released) or released it; neither is final.
enum class Outcome : uint8_t {
  kDelivered = 1,
  kDeferred = 2,
  kBounced = 3,
  kExpired = 4,
  kRelocated = 5,
  kDeleted = 6,
  kHeld = 7,
  kReleased = 8,
};
inline constexpr uint8_t kOutcomeMax = 8;
inline bool IsFinal(Outcome outcome) {
  return outcome != Outcome::kDeferred && outcome != Outcome::kHeld && outcome != Outcome::kReleased;
}

struct DeliveryResult {
  std::string queue_id;
  uint32_t recipient_index = 0;
  Outcome outcome = Outcome::kDeferred;
  uint32_t attempt = 0;
  uint64_t next_attempt_unix_micros = 0;  // kDeferred only
  uint16_t code = 0;                      // the reply that decided it
  std::string text;
};

std::string EncodeDeliveryResult(const DeliveryResult& result);
absl::StatusOr<DeliveryResult> DecodeDeliveryResult(absl::string_view payload);

// A standing order for one destination domain. The newest (by `at`) for a domain
// decides; the log writer carries the orders in force into every new segment, so
// reclaiming old segments never loses one.
struct ControlRecord {
  enum class Kind : uint8_t { kSuspend = 1, kResume = 2 };
  Kind kind = Kind::kSuspend;
  std::string domain;
  uint64_t at_unix_micros = 0;     // when the operator gave it
  uint64_t until_unix_micros = 0;  // kSuspend: when it lapses
  std::string reason;
};
std::string EncodeControlRecord(const ControlRecord& record);
absl::StatusOr<ControlRecord> DecodeControlRecord(absl::string_view payload);

}  // namespace ringpost::queue
