// The bodies of a shard's newest small messages, kept in memory for their first
// delivery: a message is usually sent within milliseconds of its commit, and reading
// its few kilobytes back from the page cache cost a system call per message (about a
// twentieth of a 1 KB relay's CPU). The log writer fills it as it stages each body
// (the same bytes, in reading order); delivery on the message's home shard takes from
// it, and reads the log when the body is not here (too big, pushed out, another shard's,
// or recovered from an earlier run).
//
// Bounded: bodies of at most kBodyBytesMax, kBytesMax in all; the oldest go first.
// Owned by one shard, never shared.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace ringpost::queue {

class RecentBodies {
 public:
  static constexpr size_t kBodyBytesMax = 16 * 1024;
  static constexpr size_t kBytesMax = 4 << 20;

  // A buffer to gather a new body in (a pushed-out body's, when there is one).
  std::string TakeBuffer();
  // Hands back a buffer that will not be kept (its body outgrew kBodyBytesMax, or its
  // message was given up).
  void ReturnBuffer(std::string buffer);
  // Keeps the body of the message `message_ref` that began in `segment`, pushing out
  // the oldest bodies past kBytesMax. Both name it: a writer's message numbers start
  // again each run, but its segments are numbered after every earlier one.
  void Keep(uint32_t segment, uint64_t message_ref, std::string body);
  // The kept body of that message, if it is here and `bytes` long; null otherwise.
  const std::string* Find(uint32_t segment, uint64_t message_ref, uint64_t bytes) const;

  size_t bodies() const { return bodies_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Body {
    uint32_t segment = 0;
    std::string bytes;
  };
  absl::flat_hash_map<uint64_t, Body> bodies_;  // by message_ref
  std::deque<uint64_t> order_;                  // oldest first
  size_t bytes_ = 0;
  std::vector<std::string> spare_;  // pushed-out bodies' buffers
};

}  // namespace ringpost::queue
