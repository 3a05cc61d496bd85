// What moves between shards for delivery (DESIGN.md, Domain affinity).
//
// A committed message is split by recipient domain; each domain's share is one
// DeliveryJob, handed to the shard that owns that domain. The jobs of one message
// share one StoredMessage: the envelope fields delivery needs and where the message
// lives (its home shard's segment file, the commit record's offset, and the body's
// records, known to the writer at commit), so delivery reads the body straight from
// its records and never re-reads the envelope. The body is read when a connection is
// ready for it and dropped after each attempt, so a deferred job costs a few hundred
// bytes, not its message.
//
// StoredMessage is immutable once shared, but for `unfinished`: the count of its jobs
// not yet finished. The last job to finish, on whichever shard, sends the "done" notice
// home (queue/spool.h), which lets the message's segment go.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dsn_params.h"
#include "queue/record.h"

namespace ringpost::queue {

struct StoredMessage {
  std::string queue_id;
  uint64_t arrival_unix_micros = 0;
  std::string mail_from;  // empty: the null sender
  bool eight_bit = false;
  bool smtputf8 = false;
  core::DsnMessageParams dsn;  // RET, ENVID (RFC 3461)
  std::string pool;            // egress pool (--egress_pools); empty: the default
  // Where it lives.
  int home_shard = 0;
  uint32_t segment = 0;
  std::string segment_path;
  uint64_t commit_offset = 0;
  BodyLocation body;
  bool reclaim = true;  // false: the segment belongs to no running shard (fewer --shards now)
  // Segments of other shards (shard, number) that hold its results from an earlier run
  // (RecoveredMessage::result_segments): each is let go once it is finished.
  std::vector<std::pair<int, uint32_t>> result_pins;
  // Committed in this run (not recovered): its body may still be in the home shard's
  // memory (LogWriter::recent_writes), where only that shard may look.
  bool committed_this_run = false;
  std::atomic<uint32_t> unfinished{0};
};

// The delivery-relevant part of a committed envelope (body location included); the
// caller fills in where it lives.
std::shared_ptr<StoredMessage> StoredMessageOf(const Envelope& envelope);

struct JobRecipient {
  uint32_t index = 0;  // in the envelope: what result records name
  std::string address;
  uint32_t attempts = 0;                  // failed attempts so far
  uint64_t next_attempt_unix_micros = 0;  // 0: now
  core::DsnRecipientParams dsn;           // NOTIFY, ORCPT (RFC 3461)
  bool delay_reported = false;            // a "delayed" report went (--delay_warning_time)
};

struct DeliveryJob {
  std::shared_ptr<StoredMessage> message;
  std::string domain;                    // canonical (CanonicalDomain)
  std::vector<JobRecipient> recipients;  // not yet final
  bool held = false;                     // an operator holds it (found so at recovery)
};

// One job per recipient domain (recipients already final are left out; a message with
// none left gives no jobs). `message->unfinished` is set to the number of jobs returned.
std::vector<std::unique_ptr<DeliveryJob>> SplitByDomain(const std::shared_ptr<StoredMessage>& message,
                                                        const std::vector<Recipient>& recipients);

// The domain part of an address ("" for <postmaster> and the like), canonical.
std::string RecipientDomain(const std::string& address);

// The shard that owns `domain`: a stable hash (FNV-1a), so every shard agrees.
int DomainShard(const std::string& domain, int shard_count);

}  // namespace ringpost::queue
