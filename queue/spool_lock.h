// The spool directory and its lock.
//
// Two daemons must never share a spool (DESIGN.md, The log): the first takes an
// exclusive flock on SPOOL/lock and holds it for its lifetime; a second one fails at
// start-up with a message naming the spool. The lock dies with the process (kill -9
// included), so a crash never leaves a stale lock behind.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ringpost::queue {

class SpoolLock {
 public:
  // Creates `spool_dir` (and parents) if missing, then locks it. FailedPrecondition
  // when another process holds the lock.
  // kNo: the spool must exist already (NotFound naming its absolute path otherwise).
  enum class Create { kYes, kNo };
  static absl::StatusOr<SpoolLock> Acquire(const std::string& spool_dir, Create create = Create::kYes);

  SpoolLock(SpoolLock&& other) noexcept;
  SpoolLock& operator=(SpoolLock&& other) noexcept;
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  ~SpoolLock();

  const std::string& spool_dir() const { return spool_dir_; }

 private:
  SpoolLock(std::string spool_dir, int fd) : spool_dir_(std::move(spool_dir)), fd_(fd) {}
  std::string spool_dir_;
  int fd_ = -1;
};

// The spool's node id for queue ids (queue/queue_id.h): SPOOL/node_id, a number drawn
// at random the first time and kept, so ids of two spools (two machines, or two daemons
// on one) differ. Call with the lock held.
absl::StatusOr<uint32_t> LoadOrCreateNodeId(const std::string& spool_dir);

}  // namespace ringpost::queue
