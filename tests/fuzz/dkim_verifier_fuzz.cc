// Fuzz target: DKIM verification of a hostile message (RFC 6376 §6). The header section
// reads the same in any two pieces, at most kDkimSignaturesMax signatures are checked,
// nothing passes without a key that signs it, and the Authentication-Results field is
// one header field (no bare line ends, each line folded).
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "net/dkim/dkim_verifier.h"
#include "net/dkim/header_fields.h"

namespace net = ringpost::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = size == 0 ? 0 : data[0] % (size + 1);
  net::HeaderSectionReader whole, pieces;
  const size_t taken = whole.Feed(input);
  size_t taken_in_pieces = pieces.Feed(input.substr(0, split));
  if (!pieces.ended()) taken_in_pieces += pieces.Feed(input.substr(split));
  RP_CHECK_EQ(taken, taken_in_pieces);
  RP_CHECK(whole.bytes() == pieces.bytes());
  RP_CHECK_LE(whole.bytes().size(), net::kHeaderSectionBytesMax);
  size_t complete = 0;
  for (absl::string_view field : net::SplitHeaderFields(whole.bytes(), &complete)) {
    RP_CHECK(!field.empty() && field.back() == '\n');
  }
  RP_CHECK_LE(complete, whole.bytes().size());

  net::DkimVerifier verifier(whole.bytes(), 1796000000);
  RP_CHECK_LE(verifier.signatures(), net::kDkimSignaturesMax);
  verifier.AddBody(input.substr(taken));
  verifier.FinishBody();
  absl::flat_hash_map<std::string, net::DkimKeyLookup> keys;
  // A real Ed25519 key that signed none of this: nothing may pass under it.
  for (const std::string& name : verifier.KeyNames()) {
    keys[name] = {net::DkimKeyLookup::Outcome::kFound,
                  "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="};
  }
  const std::vector<net::DkimCheck> checks = verifier.Check(keys);
  RP_CHECK_EQ(checks.size(), verifier.signatures());
  for (const net::DkimCheck& check : checks) RP_CHECK(check.verdict != net::DkimVerdict::kPass);
  const std::string field = net::AuthenticationResultsField("mx.example.org", checks);
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\n') RP_CHECK(i > 0 && field[i - 1] == '\r');
    if (field[i] == '\r') RP_CHECK(i + 1 < field.size() && field[i + 1] == '\n');
  }
  return 0;
}
