#include "net/inbound/auth_users.h"

#include <crypt.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/check.h"
#include "core/config_file.h"
#include "net/smtp/sasl.h"

namespace ringpost::net {
namespace {

// The crypt(5) prefixes of hashes made to be slow; DES, MD5 ("$1$") and plain text
// are refused when the file is read.
bool IsStrongHash(absl::string_view hash) {
  for (absl::string_view prefix : {"$y$", "$gy$", "$7$", "$2b$", "$2y$", "$6$", "$5$"}) {
    if (absl::StartsWith(hash, prefix)) return true;
  }
  return false;
}

}  // namespace

absl::Status AuthUsers::Load() {
  auto table = std::make_shared<Table>();
  RP_RETURN_IF_ERROR(core::ForEachConfigLine(path_, "--auth_users", [&](absl::string_view item, size_t number) {
    const size_t colon = item.find(':');
    const absl::string_view user = item.substr(0, colon);
    const absl::string_view hash = colon == absl::string_view::npos ? "" : item.substr(colon + 1);
    if (!CheckSaslField(user).ok() || !IsStrongHash(hash) || hash.size() > 512) {
      return absl::InvalidArgumentError(absl::StrCat("--auth_users: ", path_, " line ", number,
                                                     ": expected user:hash with a yescrypt ($y$), bcrypt "
                                                     "($2b$) or sha512-crypt ($6$) hash"));
    }
    if (table->size() >= kEntriesMax) {
      return absl::ResourceExhaustedError(absl::StrCat("--auth_users: ", path_, " has over ", kEntriesMax, " users"));
    }
    (*table)[std::string(user)] = std::string(hash);
    return absl::OkStatus();
  }));
  table_.store(std::move(table), std::memory_order_release);
  return absl::OkStatus();
}

std::optional<std::string> AuthUsers::HashOf(absl::string_view user) const {
  const std::shared_ptr<const Table> table = table_.load(std::memory_order_acquire);
  auto it = table->find(user);
  if (it == table->end()) return std::nullopt;
  return it->second;
}

size_t AuthUsers::size() const { return table_.load(std::memory_order_acquire)->size(); }

bool PasswordMatches(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* computed = crypt_r(password.c_str(), hash.c_str(), &data);
  if (computed == nullptr || computed[0] == '*') return false;  // libcrypt's failure tokens
  const size_t length = std::char_traits<char>::length(computed);
  if (length != hash.size()) return false;
  unsigned char differ = 0;
  for (size_t i = 0; i < length; ++i) differ |= static_cast<unsigned char>(computed[i] ^ hash[i]);
  return differ == 0;
}

}  // namespace ringpost::net
