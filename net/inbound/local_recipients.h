// The --local_recipients list: the local addresses that exist ("user@domain", one per
// line, # comments), read at start and again on SIGHUP. One instance is shared by every
// shard; a reload swaps the whole table at once, so an RCPT sees the old list or the
// new one, never a mix, and a file that cannot be read leaves the old list in force.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

class LocalRecipients {
 public:
  static constexpr size_t kEntriesMax = 1000000;

  explicit LocalRecipients(std::string path) : path_(std::move(path)) {}
  LocalRecipients(const LocalRecipients&) = delete;
  LocalRecipients& operator=(const LocalRecipients&) = delete;

  // Reads the file (blocking: at start, or on the signal's shard) and swaps it in;
  // on an error (unreadable, over kEntriesMax entries) the list in force stays.
  absl::Status Load();
  // `address` as "local@domain" with the domain canonical; compared without case.
  bool Contains(absl::string_view address) const;
  size_t size() const;
  const std::string& path() const { return path_; }

 private:
  using Table = absl::flat_hash_set<std::string>;
  const std::string path_;
  std::atomic<std::shared_ptr<const Table>> table_{std::make_shared<const Table>()};
};

}  // namespace ringpost::net
