// Builds well-formed segments in memory, the way the log writer lays them out: body
// chunks first, then the commit that names them. For codec and scanner tests and the
// segment scan fuzz target.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "queue/record.h"

namespace ringpost::testing {

class SegmentBuilder {
 public:
  explicit SegmentBuilder(uint32_t generation, uint64_t first_sequence = 1)
      : generation_(generation), sequence_(first_sequence) {
    queue::SegmentHeader header;
    header.shard = 0;
    header.generation = generation;
    header.number = 1;
    bytes_ = queue::EncodeSegmentHeader(header);
  }

  // Appends a message whose body is split into chunks of `chunk_bytes`.
  queue::Envelope AddMessage(const std::string& queue_id, const std::string& body,
                             size_t chunk_bytes = 4096) {
    queue::Envelope envelope;
    envelope.queue_id = queue_id;
    envelope.message_ref = ++message_refs_;
    envelope.arrival_unix_micros = 1'800'000'000'000'000 + message_refs_;
    envelope.client_address = "127.0.0.1";
    envelope.helo = "client.example";
    envelope.protocol = "ESMTP";
    envelope.mail_from = "sender@example.org";
    envelope.recipients.push_back({"rcpt@example.net", ""});
    for (size_t at = 0; at < body.size(); at += chunk_bytes) {
      const std::string piece = body.substr(at, chunk_bytes);
      std::string payload;
      for (int i = 0; i < 8; ++i) payload.push_back(static_cast<char>(envelope.message_ref >> (8 * i)));
      payload += piece;
      const uint64_t data_offset = bytes_.size() + queue::kRecordHeaderBytes + queue::kBodyChunkPrefixBytes;
      queue::AppendRecord(queue::RecordType::kBody, generation_, sequence_++, payload, &bytes_);
      envelope.body.push_back({data_offset, static_cast<uint32_t>(piece.size())});
      envelope.body_bytes += piece.size();
    }
    queue::AppendRecord(queue::RecordType::kCommit, generation_, sequence_++, queue::EncodeEnvelope(envelope),
                        &bytes_);
    return envelope;
  }

  void AddResult(const queue::DeliveryResult& result) {
    queue::AppendRecord(queue::RecordType::kResult, generation_, sequence_++,
                        queue::EncodeDeliveryResult(result), &bytes_);
  }

  void AddControl(const queue::ControlRecord& control) {
    queue::AppendRecord(queue::RecordType::kControl, generation_, sequence_++, queue::EncodeControlRecord(control),
                        &bytes_);
  }

  std::string& bytes() { return bytes_; }

 private:
  uint32_t generation_;
  uint64_t sequence_;
  uint64_t message_refs_ = 0;
  std::string bytes_;
};

}  // namespace ringpost::testing
