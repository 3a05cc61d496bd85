#include "net/smtp/sasl.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

namespace ringpost::net {
namespace {

bool IsBase64Letter(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
}

}  // namespace

absl::StatusOr<std::string> DecodeSaslBase64(absl::string_view text) {
  if (text == "=") return std::string();
  if (text.empty() || text.size() % 4 != 0) return absl::InvalidArgumentError("not base64");
  size_t padding = 0;
  while (padding < 2 && text[text.size() - 1 - padding] == '=') ++padding;
  for (size_t i = 0; i < text.size() - padding; ++i) {
    if (!IsBase64Letter(text[i])) return absl::InvalidArgumentError("not base64");
  }
  std::string decoded;
  if (!absl::Base64Unescape(text, &decoded)) return absl::InvalidArgumentError("not base64");
  return decoded;
}

std::string EncodeSaslBase64(absl::string_view bytes) { return absl::Base64Escape(bytes); }

absl::Status CheckSaslField(absl::string_view field) {
  if (field.empty()) return absl::InvalidArgumentError("an empty user name or password");
  if (field.size() > kSaslFieldBytesMax)
    return absl::InvalidArgumentError("a user name or password too long");
  if (field.find('\0') != absl::string_view::npos) return absl::InvalidArgumentError("a NUL in a field");
  return absl::OkStatus();
}

absl::StatusOr<SaslCredentials> ParseSaslPlain(absl::string_view message) {
  const size_t first = message.find('\0');
  if (first == absl::string_view::npos)
    return absl::InvalidArgumentError("not authzid NUL authcid NUL passwd");
  const size_t second = message.find('\0', first + 1);
  if (second == absl::string_view::npos)
    return absl::InvalidArgumentError("not authzid NUL authcid NUL passwd");
  const absl::string_view authzid = message.substr(0, first);
  SaslCredentials credentials{std::string(message.substr(first + 1, second - first - 1)),
                              std::string(message.substr(second + 1))};
  if (absl::Status s = CheckSaslField(credentials.user); !s.ok()) return s;
  if (absl::Status s = CheckSaslField(credentials.password); !s.ok()) return s;
  if (!authzid.empty() && authzid != credentials.user) {
    return absl::PermissionDeniedError("acting as another user is not allowed");
  }
  return credentials;
}

}  // namespace ringpost::net
