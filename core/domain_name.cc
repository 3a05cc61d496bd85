#include "core/domain_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace ringpost::core {

std::string CanonicalDomain(absl::string_view domain) {
  domain = absl::StripAsciiWhitespace(domain);
  if (absl::EndsWith(domain, ".")) domain.remove_suffix(1);
  return absl::AsciiStrToLower(domain);
}

bool IsHostName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  bool all_digits_and_dots = true;
  size_t label = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && label > 0)) return false;
    if (++label > 63) return false;
    if (!(c >= '0' && c <= '9')) all_digits_and_dots = false;
  }
  return label > 0 && name.back() != '-' && !all_digits_and_dots;
}

}  // namespace ringpost::core
