// Egress pools (DESIGN.md: --egress_sources, --egress_pools): which local source a
// message's connections leave from. A pool is a weighted set of sources; a message
// names its pool (chosen at reception: its X-Ringpost-Pool: header, else its sender's
// domain, else none), and each of its jobs takes one source of that pool, by smooth
// weighted round robin, so a pool "a:3+b:1" sends three jobs from a for each from b.
// The delivery scheduler keeps a queue, limits and suspensions per source ×
// destination. Pure: the sources' addresses and EHLO names are the driver's
// (net/outbound/egress_sources.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::queue {

struct WeightedSource {
  std::string source;
  uint32_t weight = 1;
};

class EgressPools {
 public:
  static constexpr size_t kPoolsMax = 1000;
  static constexpr size_t kSourcesPerPoolMax = 1000;
  static constexpr uint32_t kWeightMax = 1000;

  EgressPools() = default;
  // --egress_pools: "bulk=a:3+b:1,transactional=c" (a weight defaults to 1). Every
  // source must be one of `sources` (the --egress_sources names).
  static absl::StatusOr<EgressPools> Parse(absl::string_view flag, const std::vector<std::string>& sources);

  bool empty() const { return pools_.empty(); }
  bool Has(absl::string_view pool) const { return pools_.contains(pool); }
  // A pool's sources, or null for a pool not defined.
  const std::vector<WeightedSource>* Find(absl::string_view pool) const;

 private:
  absl::flat_hash_map<std::string, std::vector<WeightedSource>> pools_;
};

// --egress_sender_pools: "example.com=bulk,news.example.com=newsletters,*=transactional".
// A sender's domain picks the pool of the longest entry it is or ends in (".example.com"
// also covers its subdomains when written "*.example.com"); "*" is every other sender
// (the null sender included). Pools must be defined.
class SenderPools {
 public:
  static absl::StatusOr<SenderPools> Parse(absl::string_view flag, const EgressPools& pools);
  // The pool for mail from `sender` (an address, "" for the null sender); "" for none.
  std::string PoolFor(absl::string_view sender) const;
  bool empty() const { return exact_.empty() && suffixes_.empty() && fallback_.empty(); }

 private:
  absl::flat_hash_map<std::string, std::string> exact_;     // domain → pool
  absl::flat_hash_map<std::string, std::string> suffixes_;  // ".example.com" → pool
  std::string fallback_;                                    // "*"
};

// Smooth weighted round robin (as nginx balances upstreams): over any run of
// sum-of-weights picks each source is picked exactly its weight times, interleaved.
// One per scheduler; state per pool.
class SourcePicker {
 public:
  // A source of `pool` (defined in `pools`), or "" for no pool or one not defined.
  const std::string& Pick(const EgressPools& pools, absl::string_view pool);

 private:
  absl::flat_hash_map<std::string, std::vector<int64_t>> current_;  // per pool, per source
};

}  // namespace ringpost::queue
