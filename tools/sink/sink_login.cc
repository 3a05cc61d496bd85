#include "tools/sink/sink_login.h"

#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/smtp/sasl.h"

namespace ringpost::sink {

absl::StatusOr<SinkUsers> ReadSinkUsers(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--auth_users: cannot read ", path));
  SinkUsers users;
  std::string line;
  while (std::getline(in, line)) {
    const absl::string_view item = absl::StripAsciiWhitespace(line);
    if (item.empty() || item.front() == '#') continue;
    const size_t colon = item.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--auth_users: '", item, "' is not user:password"));
    }
    users[std::string(item.substr(0, colon))] = std::string(item.substr(colon + 1));
  }
  return users;
}

std::string SinkLogin::OnAuth(absl::string_view argument, bool tls) {
  if (users_.empty()) return "502 5.5.1 Not implemented\r\n";
  if (!tls) return "538 5.7.11 Encryption required for requested authentication mechanism\r\n";
  if (!user_.empty()) return "503 5.5.1 Already authenticated\r\n";
  const std::vector<absl::string_view> words = absl::StrSplit(argument, ' ');
  const bool plain = absl::EqualsIgnoreCase(words[0], "PLAIN");
  if (words.size() > 2 || (!plain && !absl::EqualsIgnoreCase(words[0], "LOGIN"))) {
    return "504 5.5.4 Unrecognized authentication type\r\n";
  }
  step_ = plain ? Step::kPlain : Step::kLoginUser;
  if (words.size() == 2) return OnResponse(words[1]);
  return plain ? "334 \r\n" : "334 VXNlcm5hbWU6\r\n";
}

std::string SinkLogin::OnResponse(absl::string_view line) {
  const Step step = step_;
  step_ = Step::kNone;
  if (line == "*") return "501 5.7.0 Authentication cancelled\r\n";
  absl::StatusOr<std::string> decoded = net::DecodeSaslBase64(line);
  if (!decoded.ok()) return "501 5.5.2 Cannot decode response\r\n";
  switch (step) {
    case Step::kPlain: {
      auto credentials = net::ParseSaslPlain(*decoded);
      if (!credentials.ok()) return "535 5.7.8 Authentication credentials invalid\r\n";
      return Verdict(credentials->user, credentials->password);
    }
    case Step::kLoginUser:
      pending_user_ = *std::move(decoded);
      step_ = Step::kLoginPassword;
      return "334 UGFzc3dvcmQ6\r\n";
    case Step::kLoginPassword:
      return Verdict(pending_user_, *decoded);
    case Step::kNone:
      break;
  }
  return "503 5.5.1 No authentication under way\r\n";
}

std::string SinkLogin::Verdict(const std::string& user, const std::string& password) {
  auto it = users_.find(user);
  if (it == users_.end() || it->second != password) return "535 5.7.8 Authentication credentials invalid\r\n";
  user_ = user;
  return "235 2.7.0 Authentication successful\r\n";
}

}  // namespace ringpost::sink
