// DKIM signing keys: the --dkim_key_table file, shared by the shards, and each shard's
// cache of keys read from their files.
//
// The table has one line per key, "signing-domain selector key-file [algorithm]"
// (# comments; a relative key-file is relative to the table's folder). A message is
// signed with every key of the nearest domain the table names: the From: domain
// itself, else its parent, and so on (so "example.com" signs mail from
// news.example.com). The table is read at start and again on SIGHUP, and swapped whole
// (a table that does not read keeps the old one in force).
//
// Keys are read lazily, the first time a shard signs with one, and kept in the shard's
// LRU of --dkim_key_cache entries (a key that does not read is remembered too, so a
// broken key is reported once, not read again for every message). A new table empties
// the caches, so a SIGHUP also picks up a key file replaced in place.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/dkim/dkim_signer.h"

namespace ringpost::net {

struct DkimKeyEntry {
  std::string domain;                      // d=, lower case
  std::string selector;                    // s=
  std::string key_file;                    // absolute, or relative to the folder the daemon started in
  std::optional<DkimAlgorithm> algorithm;  // when the table names one, the key must be of it
};

class DkimKeyTable {
 public:
  static constexpr size_t kEntriesMax = 1000000;

  struct Snapshot {
    uint64_t generation = 0;  // rises with every load
    absl::flat_hash_map<std::string, std::vector<DkimKeyEntry>> by_domain;
    // The keys of `domain` or of its nearest parent in the table; null when none.
    const std::vector<DkimKeyEntry>* Find(absl::string_view domain) const;
  };

  explicit DkimKeyTable(std::string path) : path_(std::move(path)) {}
  DkimKeyTable(const DkimKeyTable&) = delete;
  DkimKeyTable& operator=(const DkimKeyTable&) = delete;

  // Reads the file (blocking: at start, or on the signal's shard) and swaps it in. An
  // error names the file and line; the table in force stays.
  absl::Status Load();
  std::shared_ptr<const Snapshot> Get() const { return table_.load(std::memory_order_acquire); }
  size_t size() const;  // keys
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<std::shared_ptr<const Snapshot>> table_{std::make_shared<const Snapshot>()};
};

class DkimKeyCache {
 public:
  explicit DkimKeyCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // The key of `entry`, read from its file on first use; null when it does not read,
  // with `*error` saying why (naming the file) the first time only (empty after).
  const DkimKey* Find(const DkimKeyEntry& entry, uint64_t generation, std::string* error);
  size_t size() const { return lru_.size(); }
  uint64_t file_reads() const { return file_reads_; }

 private:
  struct Cached {
    std::string key_file;
    absl::StatusOr<DkimKey> key;
  };
  const size_t capacity_;
  uint64_t generation_ = 0;
  std::list<Cached> lru_;  // most recently used first
  absl::flat_hash_map<std::string, std::list<Cached>::iterator> by_file_;
  uint64_t file_reads_ = 0;
};

}  // namespace ringpost::net
