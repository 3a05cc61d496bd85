// Fuzz target: the SASL pieces of SMTP AUTH (strict base64, the PLAIN message). Never a
// crash; what decodes encodes back to text that decodes the same, and credentials that
// parse keep to their limits.
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "net/smtp/sasl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringpost::net;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto decoded = DecodeSaslBase64(input); decoded.ok()) {
    RP_CHECK_LE(decoded->size(), input.size());
    auto again = DecodeSaslBase64(decoded->empty() ? "=" : EncodeSaslBase64(*decoded));
    RP_CHECK(again.ok() && *again == *decoded);
  }
  if (auto credentials = ParseSaslPlain(input); credentials.ok()) {
    for (const std::string* field : {&credentials->user, &credentials->password}) {
      RP_CHECK(!field->empty() && field->size() <= kSaslFieldBytesMax);
      RP_CHECK(field->find('\0') == std::string::npos);
    }
  }
  return 0;
}
