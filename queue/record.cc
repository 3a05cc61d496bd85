#include "queue/record.h"

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "queue/crc32c.h"
#include "queue/wire.h"

namespace ringpost::queue {
namespace {
constexpr size_t kSegmentHeaderCrcOffset = 28;

bool KnownType(uint8_t type) {
  return type >= static_cast<uint8_t>(RecordType::kBody) && type <= static_cast<uint8_t>(RecordType::kControl);
}

// The header at the start of `input` (at least kRecordHeaderBytes) and its CRC, or
// false when it cannot be one: checked before its length is trusted, so a torn or
// garbage header never makes a reader wait for a megabyte that will never come.
bool ParseRecordHeader(absl::string_view input, RecordHeader* header, uint32_t* crc) {
  ByteReader r(input.substr(0, kRecordHeaderBytes));
  *crc = r.U32();
  const uint32_t payload_bytes = r.U32();
  const uint8_t type = r.U8();
  const uint8_t pad[3] = {r.U8(), r.U8(), r.U8()};
  const uint32_t generation = r.U32();
  const uint64_t sequence = r.U64();
  if (payload_bytes > kRecordPayloadBytesMax || !KnownType(type) || pad[0] || pad[1] || pad[2]) return false;
  *header = RecordHeader{static_cast<RecordType>(type), payload_bytes, generation, sequence};
  return true;
}
}  // namespace

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string out(kSegmentMagic);
  ByteWriter w(&out);
  w.U32(header.version);
  w.U32(header.shard);
  w.U32(header.generation);
  w.U32(header.number);
  w.U32(0);
  w.U32(Crc32c(out));
  RP_CHECK_EQ(out.size(), kSegmentHeaderBytes);
  return out;
}

absl::StatusOr<SegmentHeader> DecodeSegmentHeader(absl::string_view bytes) {
  if (bytes.size() < kSegmentHeaderBytes) return absl::DataLossError("segment shorter than its header");
  if (bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) return absl::DataLossError("bad segment magic");
  ByteReader r(bytes.substr(kSegmentMagic.size(), kSegmentHeaderBytes - kSegmentMagic.size()));
  SegmentHeader header;
  header.version = r.U32();
  header.shard = r.U32();
  header.generation = r.U32();
  header.number = r.U32();
  r.U32();
  const uint32_t crc = r.U32();
  if (crc != Crc32c(bytes.substr(0, kSegmentHeaderCrcOffset)))
    return absl::DataLossError("segment header CRC");
  if (header.version != kSegmentVersion) {
    return absl::DataLossError(absl::StrCat("unknown segment version ", header.version));
  }
  return header;
}

void AppendRecord(RecordType type, uint32_t generation, uint64_t sequence, absl::string_view payload,
                  std::string* out) {
  AppendRecordParts(type, generation, sequence, payload, absl::string_view(), out);
}

void AppendRecordParts(RecordType type, uint32_t generation, uint64_t sequence, absl::string_view first,
                       absl::string_view second, std::string* out) {
  const absl::string_view pieces[] = {first, second};
  AppendRecordGather(type, generation, sequence, pieces, out);
}

void AppendRecordGather(RecordType type, uint32_t generation, uint64_t sequence,
                        absl::Span<const absl::string_view> pieces, std::string* out) {
  size_t payload_bytes = 0;
  for (absl::string_view piece : pieces) payload_bytes += piece.size();
  RP_CHECK_LE(payload_bytes, kRecordPayloadBytesMax);
  const size_t start = out->size();
  ByteWriter w(out);
  w.U32(0);  // CRC, filled below
  w.U32(static_cast<uint32_t>(payload_bytes));
  w.U8(static_cast<uint8_t>(type));
  w.U8(0);
  w.U8(0);
  w.U8(0);
  w.U32(generation);
  w.U64(sequence);
  for (absl::string_view piece : pieces) out->append(piece.data(), piece.size());
  const uint32_t crc = Crc32cExtend(0, out->data() + start + 4, out->size() - start - 4);
  for (int i = 0; i < 4; ++i) (*out)[start + i] = static_cast<char>(crc >> (8 * i));
}

DecodeStatus DecodeRecord(absl::string_view input, DecodedRecord* out) {
  if (input.size() < kRecordHeaderBytes) return DecodeStatus::kIncomplete;
  RecordHeader header;
  uint32_t crc = 0;
  if (!ParseRecordHeader(input, &header, &crc)) return DecodeStatus::kCorrupt;
  const size_t total = kRecordHeaderBytes + header.payload_bytes;
  if (input.size() < total) return DecodeStatus::kIncomplete;
  if (Crc32cExtend(0, input.data() + 4, total - 4) != crc) return DecodeStatus::kCorrupt;
  out->header = header;
  out->payload = input.substr(kRecordHeaderBytes, header.payload_bytes);
  out->total_bytes = total;
  return DecodeStatus::kOk;
}

DecodeStatus DecodeRecordInParts(absl::string_view head, absl::string_view rest, RecordHeader* out) {
  RecordHeader header;
  uint32_t crc = 0;
  if (head.size() < kRecordHeaderBytes || !ParseRecordHeader(head, &header, &crc) ||
      header.payload_bytes != head.size() - kRecordHeaderBytes + rest.size() ||
      Crc32cExtend(Crc32cExtend(0, head.data() + 4, head.size() - 4), rest.data(), rest.size()) != crc) {
    return DecodeStatus::kCorrupt;
  }
  *out = header;
  return DecodeStatus::kOk;
}

std::string EncodeEnvelope(const Envelope& e) {
  std::string out;
  ByteWriter w(&out);
  w.Bytes(e.queue_id);
  w.U64(e.message_ref);
  w.U64(e.arrival_unix_micros);
  w.Bytes(e.client_address);
  w.Bytes(e.helo);
  w.Bytes(e.protocol);
  w.Bytes(e.tls);
  w.Bytes(e.mail_from);
  w.Bytes(e.mail_params);
  w.U32(static_cast<uint32_t>(e.recipients.size()));
  for (const Recipient& r : e.recipients) {
    w.Bytes(r.address);
    w.Bytes(r.params);
    w.U8(r.final ? 1 : 0);
    w.U32(r.attempts);
    w.U64(r.next_attempt_unix_micros);
  }
  w.U32(static_cast<uint32_t>(e.body.size()));
  for (const BodyExtent& x : e.body) {
    w.U64(x.offset);
    w.U32(x.bytes);
  }
  w.U64(e.body_bytes);
  if (!e.pool.empty()) w.Bytes(e.pool);
  RP_CHECK_LE(out.size(), kRecordPayloadBytesMax);
  return out;
}

absl::StatusOr<Envelope> DecodeEnvelope(absl::string_view payload) {
  ByteReader r(payload);
  Envelope e;
  auto str = [&r]() { return std::string(r.Bytes(kEnvelopeStringBytesMax)); };
  e.queue_id = str();
  e.message_ref = r.U64();
  e.arrival_unix_micros = r.U64();
  e.client_address = str();
  e.helo = str();
  e.protocol = str();
  e.tls = str();
  e.mail_from = str();
  e.mail_params = str();
  const uint32_t recipients = r.U32();
  if (!r.ok() || recipients == 0 || recipients > kEnvelopeRecipientsMax) {
    return absl::DataLossError("bad envelope recipient count");
  }
  for (uint32_t i = 0; i < recipients && r.ok(); ++i) {
    Recipient rcpt;
    rcpt.address = str();
    rcpt.params = str();
    const uint8_t final = r.U8();
    if (final > 1) return absl::DataLossError("bad recipient state");
    rcpt.final = final == 1;
    rcpt.attempts = r.U32();
    rcpt.next_attempt_unix_micros = r.U64();
    e.recipients.push_back(std::move(rcpt));
  }
  const uint32_t extents = r.U32();
  if (!r.ok() || extents > kEnvelopeExtentsMax) return absl::DataLossError("bad envelope extent count");
  uint64_t sum = 0;
  for (uint32_t i = 0; i < extents && r.ok(); ++i) {
    BodyExtent x;
    x.offset = r.U64();
    x.bytes = r.U32();
    sum += x.bytes;
    e.body.push_back(x);
  }
  e.body_bytes = r.U64();
  if (r.ok() && !r.done()) {
    e.pool = str();
    if (e.pool.empty()) return absl::DataLossError("empty envelope pool");
  }
  if (!r.ok() || !r.done()) return absl::DataLossError("malformed envelope");
  if (sum != e.body_bytes) return absl::DataLossError("envelope extents do not add up to the body size");
  return e;
}

std::string EncodeDeliveryResult(const DeliveryResult& d) {
  std::string out;
  ByteWriter w(&out);
  w.Bytes(d.queue_id);
  w.U32(d.recipient_index);
  w.U8(static_cast<uint8_t>(d.outcome));
  w.U32(d.attempt);
  w.U64(d.next_attempt_unix_micros);
  w.U16(d.code);
  w.Bytes(d.text);
  return out;
}

absl::StatusOr<DeliveryResult> DecodeDeliveryResult(absl::string_view payload) {
  ByteReader r(payload);
  DeliveryResult d;
  d.queue_id = std::string(r.Bytes(kEnvelopeStringBytesMax));
  d.recipient_index = r.U32();
  const uint8_t outcome = r.U8();
  d.attempt = r.U32();
  d.next_attempt_unix_micros = r.U64();
  d.code = r.U16();
  d.text = std::string(r.Bytes(kEnvelopeStringBytesMax));
  if (!r.ok() || !r.done() || outcome < 1 || outcome > kOutcomeMax)
    return absl::DataLossError("malformed delivery result");
  d.outcome = static_cast<Outcome>(outcome);
  return d;
}

std::string EncodeControlRecord(const ControlRecord& c) {
  std::string out;
  ByteWriter w(&out);
  w.U8(static_cast<uint8_t>(c.kind));
  w.Bytes(c.domain);
  w.U64(c.at_unix_micros);
  w.U64(c.until_unix_micros);
  w.Bytes(c.reason);
  return out;
}

absl::StatusOr<ControlRecord> DecodeControlRecord(absl::string_view payload) {
  ByteReader r(payload);
  ControlRecord c;
  const uint8_t kind = r.U8();
  c.domain = std::string(r.Bytes(kEnvelopeStringBytesMax));
  c.at_unix_micros = r.U64();
  c.until_unix_micros = r.U64();
  c.reason = std::string(r.Bytes(kEnvelopeStringBytesMax));
  if (!r.ok() || !r.done() || kind < 1 || kind > 2 || c.domain.empty()) {
    return absl::DataLossError("malformed control record");
  }
  c.kind = static_cast<ControlRecord::Kind>(kind);
  return c;
}

bool IsBodyChunkOf(absl::string_view head, absl::string_view bytes, uint64_t message_ref) {
  RecordHeader header;
  return head.size() == kRecordHeaderBytes + kBodyChunkPrefixBytes &&
         DecodeRecordInParts(head, bytes, &header) == DecodeStatus::kOk && header.type == RecordType::kBody &&
         ByteReader(head.substr(kRecordHeaderBytes)).U64() == message_ref;
}

bool ExtentsMakeUpBody(const BodyLocation& location) {
  uint64_t extent_bytes = 0;
  for (const BodyExtent& extent : location.extents) extent_bytes += extent.bytes;
  return extent_bytes == location.bytes;
}

BodyLocation BodyOf(const Envelope& envelope) {
  return BodyLocation{envelope.message_ref, envelope.body, envelope.body_bytes};
}

}  // namespace ringpost::queue
