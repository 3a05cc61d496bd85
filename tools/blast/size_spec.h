// --size for ringpost-blast: "1k" (fixed), "1k-100k" (uniform between), or a weighted
// mix "2k:60,20k:30,200k:10". Suffixes k and m are powers of 1024. Bounded: at most
// 16 entries, sizes up to 64 MiB.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::blast {

class SizeSpec {
 public:
  static absl::StatusOr<SizeSpec> Parse(absl::string_view text);
  uint64_t Sample(std::mt19937_64& rng) const;
  uint64_t max_bytes() const;

 private:
  struct Entry {
    uint64_t low = 0, high = 0;  // uniform in [low, high]; fixed when equal
    uint32_t weight = 1;
  };
  std::vector<Entry> entries_;
  uint64_t total_weight_ = 0;
};

absl::StatusOr<uint64_t> ParseByteCount(absl::string_view text);

}  // namespace ringpost::blast
