// Builds ringpost-blast's messages: RFC 5322 headers with a unique Message-ID, then a
// body of printable 76-character lines (some starting with "." so dot-stuffing is
// exercised end to end), already dot-stuffed for the wire. Bodies are built once per
// size and shared; only the headers are made per message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace ringpost::blast {

class MessageFactory {
 public:
  explicit MessageFactory(std::string run_id) : run_id_(std::move(run_id)) {}

  // "<blast.RUN.SHARD.SEQ@ringpost-blast.invalid>"
  std::string MessageId(int shard, uint64_t sequence) const;
  // Headers ending with the blank line; the first recipient goes in To:.
  std::string Headers(absl::string_view from, absl::string_view to, absl::string_view message_id) const;
  // The dot-stuffed wire form of a body of about `bytes` bytes, ending with the
  // terminator ".\r\n". Bodies are rounded to 64 bytes and cached per size.
  const std::string& WireBody(uint64_t bytes);

 private:
  std::string run_id_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<std::string>> bodies_;
};

}  // namespace ringpost::blast
