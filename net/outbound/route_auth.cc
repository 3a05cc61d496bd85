#include "net/outbound/route_auth.h"

#include <fstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/check.h"
#include "core/config_file.h"
#include "net/smtp/sasl.h"

namespace ringpost::net {

absl::StatusOr<RouteAuth> RouteAuth::Load(const std::string& path) {
  RouteAuth table;
  RP_RETURN_IF_ERROR(core::ForEachConfigLine(path, "--route_auth", [&](absl::string_view item, size_t number) {
    const std::vector<absl::string_view> fields = absl::StrSplit(item, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const std::string where = absl::StrCat("--route_auth: ", path, " line ", number);
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected host user password-file"));
    }
    std::ifstream secret{std::string(fields[2])};
    std::string password;
    if (!secret || !std::getline(secret, password)) {
      return absl::NotFoundError(absl::StrCat(where, ": cannot read the password file ", fields[2]));
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (!CheckSaslField(fields[1]).ok() || !CheckSaslField(password).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the user and the password are 1 to ", kSaslFieldBytesMax, " bytes, no NUL"));
    }
    if (table.logins_.size() >= kEntriesMax) {
      return absl::ResourceExhaustedError(absl::StrCat("--route_auth: ", path, " has over ", kEntriesMax, " hosts"));
    }
    table.logins_[absl::AsciiStrToLower(fields[0])] = RouteLogin{std::string(fields[1]), std::move(password)};
    return absl::OkStatus();
  }));
  return table;
}

std::optional<RouteLogin> RouteAuth::For(absl::string_view host) const {
  auto it = logins_.find(absl::AsciiStrToLower(host));
  if (it == logins_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ringpost::net
