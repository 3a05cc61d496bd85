// Fuzz target: DKIM canonicalization (RFC 6376 §3.4). Never a crash; a body hashed in two
// pieces hashes as it does whole, relaxed header canonicalization is idempotent, and a
// canonical body never grows past its input plus a final CRLF.
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "net/dkim/dkim_canonical.h"
#include "net/dkim/dkim_signer.h"

using ringpost::net::BodyCanonicalizer;
using ringpost::net::Canonicalization;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = size == 0 ? 0 : data[0] % (size + 1);
  for (const Canonicalization mode : {Canonicalization::kSimple, Canonicalization::kRelaxed}) {
    ringpost::net::DkimBodyHasher whole(mode), pieces(mode);
    whole.Add(input);
    pieces.Add(input.substr(0, split));
    pieces.Add(input.substr(split));
    RP_CHECK(whole.Finish() == pieces.Finish());
    uint64_t out = 0;
    BodyCanonicalizer canonical(mode, [&out](absl::string_view bytes) { out += bytes.size(); });
    canonical.Add(input);
    canonical.Finish();
    RP_CHECK_LE(out, size + 2);
  }
  const std::string once = ringpost::net::CanonicalHeader(input, Canonicalization::kRelaxed);
  RP_CHECK(ringpost::net::CanonicalHeader(once, Canonicalization::kRelaxed) == once);
  return 0;
}
