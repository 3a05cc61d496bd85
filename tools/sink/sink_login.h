// SMTP AUTH for ringpost-sink (--auth_users): what an MTA's smarthost asks of it, so
// ringpost's outbound login can be tested against a real server. PLAIN and LOGIN,
// offered and taken only under TLS (538 5.7.11 before it); with users configured no
// MAIL is taken before a login (530 5.7.0). The users file is "user:password" lines in
// plain text: this is a test peer, not a place for real secrets. One per connection,
// on its shard.
#pragma once

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::sink {

using SinkUsers = absl::flat_hash_map<std::string, std::string>;  // user → password

absl::StatusOr<SinkUsers> ReadSinkUsers(const std::string& path);

class SinkLogin {
 public:
  explicit SinkLogin(const SinkUsers& users) : users_(users) {}
  // True while a 334 awaits the client's response line.
  bool in_exchange() const { return step_ != Step::kNone; }
  // AUTH's argument ("PLAIN [initial-response]"); returns the reply.
  std::string OnAuth(absl::string_view argument, bool tls);
  // A response line inside the exchange; returns the reply.
  std::string OnResponse(absl::string_view line);
  const std::string& user() const { return user_; }  // empty until a login succeeds

 private:
  enum class Step { kNone, kPlain, kLoginUser, kLoginPassword };
  std::string Verdict(const std::string& user, const std::string& password);

  const SinkUsers& users_;
  Step step_ = Step::kNone;
  std::string pending_user_;
  std::string user_;
};

}  // namespace ringpost::sink
