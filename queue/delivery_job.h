// What moves between shards for delivery (DESIGN.md, Domain affinity).
//
// A committed message is split by recipient domain; each domain's share is one
// DeliveryJob, handed (by pointer, through Shard::Post) to the shard that owns that
// domain. The job names where the message lives (its home shard's segment file and
// commit offset) and carries only the envelope fields delivery needs; the body is read
// back from the log when a connection is ready for it, and dropped after each attempt,
// so a deferred job costs a few hundred bytes, not its message.
//
// MessageParts counts a message's jobs still unfinished; the last one to finish sends
// the "done" notice home (LogWriter::MessageFinished), from whichever shard it is on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "queue/record.h"

namespace ringpost::queue {

struct MessageParts {
  std::atomic<uint32_t> unfinished{0};
  int home_shard = 0;
  uint32_t segment = 0;
  bool reclaim = true;  // false: the segment belongs to no running shard (fewer --shards now)
};

struct JobRecipient {
  uint32_t index = 0;  // in the envelope: what result records name
  std::string address;
  uint32_t attempts = 0;                  // failed attempts so far
  uint64_t next_attempt_unix_micros = 0;  // 0: now
};

struct DeliveryJob {
  std::string queue_id;
  std::string domain;  // canonical (CanonicalDomain)
  std::string segment_path;
  uint64_t commit_offset = 0;
  uint64_t arrival_unix_micros = 0;
  std::string mail_from;  // empty: the null sender
  bool eight_bit = false;
  bool smtputf8 = false;
  std::vector<JobRecipient> recipients;  // not yet final
  std::shared_ptr<MessageParts> parts;
};

// The delivery-relevant view of a committed message, and its split into one job per
// recipient domain (recipients already final are left out; a message with none left
// gives no jobs). `parts->unfinished` is set to the number of jobs returned.
struct QueuedMessage {
  Envelope envelope;  // body extents unused
  std::string segment_path;
  uint32_t segment = 0;
  uint64_t commit_offset = 0;
  int home_shard = 0;
  bool reclaim = true;
};
std::vector<std::unique_ptr<DeliveryJob>> SplitByDomain(const QueuedMessage& message);

// The domain part of an address ("" for <postmaster> and the like), canonical.
std::string RecipientDomain(const std::string& address);

// The shard that owns `domain`: a stable hash (FNV-1a), so every shard agrees.
int DomainShard(const std::string& domain, int shard_count);

}  // namespace ringpost::queue
