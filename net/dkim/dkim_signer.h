// DKIM signing (RFC 6376, with ed25519-sha256 from RFC 8463): the body hash, computed
// as the body streams by, and the DKIM-Signature header field over the chosen header
// fields. Pure (BoringSSL's hashing and signing, no I/O): keys come in as PEM text.
//
// Header fields are signed bottom-up (RFC 6376 §5.4.2): each name in h= takes the last
// instance not yet taken; a name listed once more than the message has instances is
// "over-signed", so nobody can add one later without breaking the signature.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <openssl/base.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "net/dkim/dkim_canonical.h"

namespace ringpost::net {

enum class DkimAlgorithm { kRsaSha256, kEd25519Sha256 };

struct DkimKey {
  DkimAlgorithm algorithm = DkimAlgorithm::kRsaSha256;
  bssl::UniquePtr<EVP_PKEY> key;
};

inline constexpr size_t kDkimKeyPemBytesMax = 64 * 1024;

// A PEM private key (PKCS#8 or traditional RSA): RSA of 1024 to 8192 bits, or
// Ed25519. The error says what the text is not.
absl::StatusOr<DkimKey> ParseDkimPrivateKey(absl::string_view pem);

// The DNS TXT record that publishes the key's public half (RFC 6376 §3.6.1):
// "v=DKIM1; k=rsa; p=MIIB..." or "v=DKIM1; k=ed25519; p=..." (RFC 8463 §4).
std::string DkimPublicKeyRecord(const DkimKey& key);

// The body hash (bh=): SHA-256 over the canonical body, fed as it arrives.
class DkimBodyHasher {
 public:
  explicit DkimBodyHasher(Canonicalization mode);
  void Add(absl::string_view bytes) { canonicalizer_.Add(bytes); }
  // Base64 of the digest. Call once.
  std::string Finish();

 private:
  SHA256_CTX sha_;
  BodyCanonicalizer canonicalizer_;
};

struct DkimSignRequest {
  std::string domain;    // d=
  std::string selector;  // s=
  Canonicalization header_mode = Canonicalization::kRelaxed;
  Canonicalization body_mode = Canonicalization::kRelaxed;
  // The message's header fields in order, each whole ("Name: value\r\n", folded or
  // not); views that live as long as the request.
  std::vector<absl::string_view> header_fields;
  std::vector<std::string> signed_names;  // h=, in order (lower case)
  std::string body_hash;                  // bh=, from DkimBodyHasher
  int64_t time = 0;                       // t=, seconds since the epoch
  int64_t expiry = 0;                     // x=, 0: none
};

// h= for a message: each of `names` (lower case) as often as the message has that field,
// and "from" once more (over-signed: no From: can be added later).
std::vector<std::string> DkimSignedNames(absl::Span<const absl::string_view> fields,
                                         absl::Span<const std::string> names);

// "DKIM-Signature: v=1; a=...; ...; b=...\r\n", folded to short lines.
absl::StatusOr<std::string> SignDkim(const DkimKey& key, const DkimSignRequest& request);

}  // namespace ringpost::net
