// A shard's DKIM state: its cache of signing keys and its cache of the key records
// verification fetched through the shard's resolver (kept for their TTL, at most
// kKeyRecordTtlMax; a failed lookup is not kept), and what it counted.
// Single-threaded, like the shard.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/clock.h"
#include "core/shard.h"
#include "dns/resolver.h"
#include "dns/route_cache.h"
#include "net/dkim/dkim_verifier.h"
#include "net/inbound/dkim_keys.h"

namespace ringpost::net {

struct DkimStats {
  uint64_t signed_messages = 0;
  uint64_t unsigned_no_key = 0;     // no key for the From: domain (or no From: domain)
  uint64_t unsigned_key_error = 0;  // a key that does not read
  uint64_t refused_unsigned = 0;    // --dkim_required: 451 4.7.5
  uint64_t forged_results_removed = 0;
  uint64_t verdicts[5] = {};  // by DkimVerdict
  uint64_t no_signature = 0;
};

class DkimShard {
 public:
  static constexpr core::MonoNanos kKeyRecordTtlMax = 3600 * core::kNanosPerSecond;
  static constexpr core::MonoNanos kMissingKeyTtl = 300 * core::kNanosPerSecond;

  // `keys` null: no signing; `resolver` null: no verification.
  DkimShard(core::Shard& shard, const DkimKeyTable* keys, size_t key_cache_capacity, dns::Resolver* resolver)
      : shard_(shard), keys_(keys), key_cache_(key_cache_capacity), resolver_(resolver) {}

  const DkimKeyTable* key_table() const { return keys_; }
  DkimKeyCache& key_cache() { return key_cache_; }
  bool verifies() const { return resolver_ != nullptr; }
  DkimStats& stats() { return stats_; }
  const DkimStats& stats() const { return stats_; }

  using Lookups = absl::flat_hash_map<std::string, DkimKeyLookup>;
  // The key records named, from the cache or DNS; `done` runs once, on this shard,
  // never inside the call.
  void LookUpKeys(const std::vector<std::string>& names, core::MonoNanos now,
                  std::function<void(Lookups)> done);
  // `call` at the end of this loop turn (an answer known at once still comes later).
  void RunLater(std::function<void()> call);

 private:
  core::Shard& shard_;
  const DkimKeyTable* keys_;
  DkimKeyCache key_cache_;
  dns::Resolver* resolver_;
  dns::ExpiringCache<DkimKeyLookup> records_;
  DkimStats stats_;
};

}  // namespace ringpost::net
