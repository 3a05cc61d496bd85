#include "dns/idna.h"

#include <idn2.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace ringpost::dns {

bool IsInternationalDomain(absl::string_view domain) {
  for (const char c : domain) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

absl::StatusOr<std::string> ToAsciiDomain(absl::string_view domain) {
  if (!IsInternationalDomain(domain)) return std::string(domain);
  if (domain.size() > 1024) return absl::InvalidArgumentError("the domain is too long");
  const std::string input(domain);  // libidn2 wants a NUL-terminated string
  if (input.find('\0') != std::string::npos) return absl::InvalidArgumentError("a NUL in the domain");
  char* output = nullptr;
  const int rc = idn2_to_ascii_8z(input.c_str(), &output, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid international domain name (", idn2_strerror(rc), ")"));
  }
  std::string ascii(output);
  idn2_free(output);
  return ascii;
}

}  // namespace ringpost::dns
