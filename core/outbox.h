// Cross-shard posting that never drops: Shard::Post returns false when the queue to a
// shard is full; an Outbox keeps such envelopes, in order, and posts them again at the
// end of each loop turn until they go. Owned by one shard; not thread-safe.
#pragma once

#include <utility>
#include <vector>

#include "core/shard.h"

namespace ringpost::core {

class Outbox {
 public:
  explicit Outbox(Shard& shard) : shard_(shard) {
    shard_.AddTurnHook([this] { Retry(); });
  }
  ~Outbox() {
    for (auto& [target, envelope] : kept_) envelope.Dispose();
  }
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Order is kept: once one envelope waits, later ones wait behind it.
  void Send(int target, const Envelope& envelope) {
    if (kept_.empty() && shard_.Post(target, envelope)) return;
    kept_.emplace_back(target, envelope);
    shard_.RequestTurn();
  }
  size_t waiting() const { return kept_.size(); }

 private:
  void Retry() {
    if (kept_.empty()) return;
    size_t kept = 0;
    for (size_t i = 0; i < kept_.size(); ++i) {
      if (kept == 0 && shard_.Post(kept_[i].first, kept_[i].second)) continue;
      kept_[kept++] = kept_[i];
    }
    kept_.resize(kept);
    if (kept > 0) shard_.RequestTurn();
  }

  Shard& shard_;
  std::vector<std::pair<int, Envelope>> kept_;
};

}  // namespace ringpost::core
