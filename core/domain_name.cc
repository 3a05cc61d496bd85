#include "core/domain_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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

absl::StatusOr<DomainSet> DomainSet::Parse(absl::string_view flag, absl::string_view text) {
  DomainSet set;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string domain = CanonicalDomain(item);
    if (domain.empty() || domain.size() > 255 || domain.find_first_of(" @/[]") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", item, "' is not a domain"));
    }
    set.domains_.insert(std::move(domain));
  }
  return set;
}

}  // namespace ringpost::core
