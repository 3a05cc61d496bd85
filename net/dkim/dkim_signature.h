// The DKIM-Signature header field read by a verifier (RFC 6376 §3.5), and the bytes
// its b= signs (§3.7). Pure: every error says what is wrong, and the verifier reports
// it in Authentication-Results rather than trusting any part of the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "net/dkim/dkim_canonical.h"
#include "net/dkim/dkim_signer.h"

namespace ringpost::net {

struct DkimSignature {
  DkimAlgorithm algorithm = DkimAlgorithm::kRsaSha256;
  std::string signature;  // b=, decoded
  std::string b_text;     // b= as base64 without whitespace (header.b names its start)
  std::string body_hash;  // bh=, decoded
  Canonicalization header_mode = Canonicalization::kSimple;  // c= (default simple/simple)
  Canonicalization body_mode = Canonicalization::kSimple;
  std::string domain;                     // d=, lower case
  std::string selector;                   // s=
  std::vector<std::string> signed_names;  // h=, lower case
  std::optional<uint64_t> body_length;    // l=
  std::optional<int64_t> time;            // t=
  std::optional<int64_t> expiry;          // x=
  // The canonical DKIM-Signature field with b= emptied and no final CRLF: the last
  // bytes the signature covers.
  std::string own_field;
};

inline constexpr size_t kDkimSignedNamesMax = 128;

// `field` is the whole header field ("DKIM-Signature: v=1; ...\r\n"). On an error,
// `out->domain` and `out->selector` are set when they could be read (for the report).
absl::Status ParseDkimSignature(absl::string_view field, DkimSignature* out);

// The bytes b= signs: the covered header fields, then the signature's own field.
std::string DkimSignedData(const DkimSignature& signature, absl::Span<const absl::string_view> fields);

}  // namespace ringpost::net
