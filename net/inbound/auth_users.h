// The --auth_users file: who may log in (SMTP AUTH), one "user:hash" per line, #
// comments; the hash is a crypt(5) string the system's libcrypt checks (yescrypt "$y$",
// bcrypt "$2b$", sha512-crypt "$6$", sha256-crypt "$5$"). Read at start and again on
// SIGHUP; shared by every shard. A reload swaps the whole table at once, and a file
// that cannot be read or holds a bad line leaves the table in force.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

class AuthUsers {
 public:
  static constexpr size_t kEntriesMax = 100000;

  explicit AuthUsers(std::string path) : path_(std::move(path)) {}
  AuthUsers(const AuthUsers&) = delete;
  AuthUsers& operator=(const AuthUsers&) = delete;

  // Reads the file (blocking: at start, or on the signal's shard); an error names the
  // file and line and changes nothing.
  absl::Status Load();
  // The user's hash, if the user exists (names compare exactly, as typed).
  std::optional<std::string> HashOf(absl::string_view user) const;
  size_t size() const;
  const std::string& path() const { return path_; }

 private:
  using Table = absl::flat_hash_map<std::string, std::string>;
  const std::string path_;
  std::atomic<std::shared_ptr<const Table>> table_{std::make_shared<const Table>()};
};

// True when `password` hashes to `hash` under libcrypt (the comparison takes the same
// time wherever the strings differ). Slow on purpose: run it off a shard's thread.
bool PasswordMatches(const std::string& password, const std::string& hash);

}  // namespace ringpost::net
