// The per-shard cache of mail routes by domain (dns/mx_resolver.h keeps one). Pure:
// the caller passes the time. An entry lives until its expiry (the caller derives it
// from the answers' TTLs, capped); a lookup past it removes the entry. Bounded: past
// kEntriesMax the expired entries are swept, and if that frees nothing the cache is
// emptied (a cache, not a store: the next lookups simply ask DNS again).
#pragma once

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "core/clock.h"

namespace ringpost::dns {

template <typename Value>
class ExpiringCache {
 public:
  static constexpr size_t kEntriesMax = 1 << 20;

  // The live value for `key`, or null.
  const Value* Find(const std::string& key, core::MonoNanos now) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    if (it->second.expires <= now) {
      entries_.erase(it);
      return nullptr;
    }
    return &it->second.value;
  }

  void Put(const std::string& key, Value value, core::MonoNanos expires, core::MonoNanos now) {
    if (entries_.size() >= kEntriesMax && !entries_.contains(key)) {
      absl::erase_if(entries_, [now](const auto& entry) { return entry.second.expires <= now; });
      if (entries_.size() >= kEntriesMax) entries_.clear();
    }
    entries_[key] = Entry{std::move(value), expires};
  }

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Value value;
    core::MonoNanos expires = 0;
  };
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace ringpost::dns
