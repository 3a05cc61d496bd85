#include "net/dkim/dkim_signer.h"

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/curve25519.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "DKIM signs with BoringSSL (STYLE.md): OpenSSL's headers were found first"
#endif

namespace ringpost::net {
namespace {

const char* ModeName(Canonicalization mode) {
  return mode == Canonicalization::kSimple ? "simple" : "relaxed";
}

std::string Base64(const uint8_t* data, size_t size) {
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(data), size));
}

// The signature's own header field with b= as given (empty while hashing).
std::string SignatureField(const DkimKey& key, const DkimSignRequest& r, absl::string_view b) {
  std::string field =
      absl::StrCat("DKIM-Signature: v=1; a=",
                   key.algorithm == DkimAlgorithm::kEd25519Sha256 ? "ed25519-sha256" : "rsa-sha256",
                   "; c=", ModeName(r.header_mode), "/", ModeName(r.body_mode), "; d=", r.domain,
                   "; s=", r.selector, ";\r\n\tt=", r.time);
  if (r.expiry > 0) absl::StrAppend(&field, "; x=", r.expiry);
  absl::StrAppend(&field, "; h=", absl::StrJoin(r.signed_names, ":"), ";\r\n\tbh=", r.body_hash,
                  ";\r\n\tb=", b);
  return field;
}

absl::StatusOr<std::string> Sign(const DkimKey& key, absl::string_view data) {
  bssl::ScopedEVP_MD_CTX context;
  std::vector<uint8_t> signature;
  size_t length = 0;
  if (key.algorithm == DkimAlgorithm::kRsaSha256) {
    if (!EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.key.get()) ||
        !EVP_DigestSign(context.get(), nullptr, &length, reinterpret_cast<const uint8_t*>(data.data()),
                        data.size())) {
      return absl::InternalError("RSA signing failed");
    }
    signature.resize(length);
    if (!EVP_DigestSign(context.get(), signature.data(), &length,
                        reinterpret_cast<const uint8_t*>(data.data()), data.size())) {
      return absl::InternalError("RSA signing failed");
    }
  } else {
    // RFC 8463 §3: Ed25519 (pure) over the SHA-256 hash of the data.
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
    length = ED25519_SIGNATURE_LEN;
    signature.resize(length);
    if (!EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key.key.get()) ||
        !EVP_DigestSign(context.get(), signature.data(), &length, digest, sizeof(digest))) {
      return absl::InternalError("Ed25519 signing failed");
    }
  }
  return Base64(signature.data(), length);
}

}  // namespace

absl::StatusOr<DkimKey> ParseDkimPrivateKey(absl::string_view pem) {
  if (pem.size() > kDkimKeyPemBytesMax) return absl::InvalidArgumentError("a key file over 64 KiB");
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  DkimKey key;
  key.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key.key == nullptr) return absl::InvalidArgumentError("not a PEM private key");
  switch (EVP_PKEY_id(key.key.get())) {
    case EVP_PKEY_RSA: {
      const unsigned bits = EVP_PKEY_bits(key.key.get());
      if (bits < 1024 || bits > 8192) {
        return absl::InvalidArgumentError(
            absl::StrCat("an RSA key of ", bits, " bits (1024 to 8192 are taken)"));
      }
      key.algorithm = DkimAlgorithm::kRsaSha256;
      return key;
    }
    case EVP_PKEY_ED25519:
      key.algorithm = DkimAlgorithm::kEd25519Sha256;
      return key;
    default:
      return absl::InvalidArgumentError("a key that is neither RSA nor Ed25519");
  }
}

std::string DkimPublicKeyRecord(const DkimKey& key) {
  if (key.algorithm == DkimAlgorithm::kEd25519Sha256) {
    uint8_t raw[ED25519_PUBLIC_KEY_LEN];
    size_t length = sizeof(raw);
    EVP_PKEY_get_raw_public_key(key.key.get(), raw, &length);
    return absl::StrCat("v=DKIM1; k=ed25519; p=", Base64(raw, length));
  }
  // RFC 6376 §3.6.1: the SubjectPublicKeyInfo, in DER.
  bssl::ScopedCBB cbb;
  uint8_t* der = nullptr;
  size_t length = 0;
  CBB_init(cbb.get(), 512);
  EVP_marshal_public_key(cbb.get(), key.key.get());
  CBB_finish(cbb.get(), &der, &length);
  std::string record = absl::StrCat("v=DKIM1; k=rsa; p=", Base64(der, length));
  OPENSSL_free(der);
  return record;
}

DkimBodyHasher::DkimBodyHasher(Canonicalization mode)
    : canonicalizer_(mode,
                     [this](absl::string_view bytes) { SHA256_Update(&sha_, bytes.data(), bytes.size()); }) {
  SHA256_Init(&sha_);
}

std::string DkimBodyHasher::Finish() {
  canonicalizer_.Finish();
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &sha_);
  return Base64(digest, sizeof(digest));
}

std::vector<std::string> DkimSignedNames(absl::Span<const absl::string_view> fields,
                                         absl::Span<const std::string> names) {
  absl::flat_hash_map<std::string, size_t> counts;
  for (absl::string_view field : fields) ++counts[HeaderFieldName(field)];
  std::vector<std::string> signed_names;
  for (const std::string& name : names) {
    auto it = counts.find(name);
    const size_t present = it == counts.end() ? 0 : it->second;
    signed_names.insert(signed_names.end(), name == "from" ? present + 1 : present, name);
  }
  return signed_names;
}

absl::StatusOr<std::string> SignDkim(const DkimKey& key, const DkimSignRequest& r) {
  if (key.key == nullptr) return absl::FailedPreconditionError("no key");
  std::string data = CanonicalSignedHeaders(r.header_fields, r.signed_names, r.header_mode);
  // §3.7: the signature's own field last, b= empty, without its final CRLF.
  std::string own = CanonicalHeader(SignatureField(key, r, ""), r.header_mode);
  own.resize(own.size() - 2);
  data += own;
  absl::StatusOr<std::string> b = Sign(key, data);
  if (!b.ok()) return b.status();
  return SignatureField(key, r, *b) + "\r\n";
}

}  // namespace ringpost::net
