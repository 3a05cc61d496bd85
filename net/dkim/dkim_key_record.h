// The public key record a signer publishes in DNS (RFC 6376 §3.6.1; ed25519 from RFC
// 8463 §4), read by the verifier, and the signature check itself. Pure and bounded: a
// record of at most kDkimKeyRecordBytesMax, RSA keys of 1024 to 8192 bits (RFC 8301
// §3.2: shorter ones are not valid), Ed25519 keys of 32 bytes. An empty p= is a
// revoked key.
#pragma once

#include <string>

#include <openssl/base.h>
#include <openssl/evp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/dkim/dkim_signer.h"

namespace ringpost::net {

inline constexpr size_t kDkimKeyRecordBytesMax = 16 * 1024;

struct DkimPublicKey {
  DkimAlgorithm algorithm = DkimAlgorithm::kRsaSha256;
  bssl::UniquePtr<EVP_PKEY> key;
  bool testing = false;  // t=y: the domain is testing DKIM (RFC 6376 §3.6.1)
};

absl::StatusOr<DkimPublicKey> ParseDkimKeyRecord(absl::string_view record);

// Does `signature` (raw bytes) sign `data` under `key` with the key's algorithm?
bool DkimSignatureMatches(const DkimPublicKey& key, absl::string_view data, absl::string_view signature);

}  // namespace ringpost::net
