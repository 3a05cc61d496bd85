#include "core/domain_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace ringpost::core {

std::string CanonicalDomain(absl::string_view domain) {
  domain = absl::StripAsciiWhitespace(domain);
  if (absl::EndsWith(domain, ".")) domain.remove_suffix(1);
  return absl::AsciiStrToLower(domain);
}

}  // namespace ringpost::core
