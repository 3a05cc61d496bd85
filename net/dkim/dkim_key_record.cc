#include "net/dkim/dkim_key_record.h"

#include <openssl/bytestring.h>
#include <openssl/curve25519.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/dkim/dkim_tag_list.h"

namespace ringpost::net {
namespace {

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

bool ListHas(absl::string_view list, absl::string_view item) {
  for (absl::string_view entry : absl::StrSplit(WithoutFoldingWhitespace(list), ':')) {
    if (entry == item) return true;
  }
  return false;
}

// p= of an RSA key: a SubjectPublicKeyInfo (§3.6.1), or the bare RSAPublicKey some
// publishers use.
bssl::UniquePtr<EVP_PKEY> RsaKey(const std::string& der) {
  CBS cbs;
  CBS_init(&cbs, reinterpret_cast<const uint8_t*>(der.data()), der.size());
  bssl::UniquePtr<EVP_PKEY> key(EVP_parse_public_key(&cbs));
  if (key != nullptr && CBS_len(&cbs) == 0) return key;
  CBS_init(&cbs, reinterpret_cast<const uint8_t*>(der.data()), der.size());
  bssl::UniquePtr<RSA> rsa(RSA_parse_public_key(&cbs));
  if (rsa == nullptr || CBS_len(&cbs) != 0) return nullptr;
  key.reset(EVP_PKEY_new());
  if (!EVP_PKEY_assign_RSA(key.get(), rsa.release())) return nullptr;
  return key;
}

}  // namespace

absl::StatusOr<DkimPublicKey> ParseDkimKeyRecord(absl::string_view record) {
  if (record.size() > kDkimKeyRecordBytesMax) return Bad("a key record over 16 KiB");
  absl::StatusOr<std::vector<DkimTag>> parsed = ParseDkimTagList(record);
  if (!parsed.ok()) return Bad(absl::StrCat("not a key record: ", parsed.status().message()));
  const std::vector<DkimTag>& tags = *parsed;
  // §3.6.1: v= is optional, but when present it comes first and says DKIM1.
  if (const DkimTag* v = FindDkimTag(tags, "v"); v != nullptr && (v != &tags[0] || v->value != "DKIM1")) {
    return Bad("not a DKIM1 key record");
  }
  if (const DkimTag* h = FindDkimTag(tags, "h"); h != nullptr && !ListHas(h->value, "sha256")) {
    return Bad("the key does not allow sha256");
  }
  if (const DkimTag* s = FindDkimTag(tags, "s");
      s != nullptr && !ListHas(s->value, "*") && !ListHas(s->value, "email")) {
    return Bad("the key is not for email");
  }
  const DkimTag* p = FindDkimTag(tags, "p");
  if (p == nullptr) return Bad("a key record without p=");
  const std::string base64 = WithoutFoldingWhitespace(p->value);
  if (base64.empty()) return Bad("the key is revoked (empty p=)");
  std::string der;
  if (!absl::Base64Unescape(base64, &der)) return Bad("p= is not base64");
  DkimPublicKey key;
  if (const DkimTag* t = FindDkimTag(tags, "t"); t != nullptr) key.testing = ListHas(t->value, "y");
  const DkimTag* k = FindDkimTag(tags, "k");
  const absl::string_view type = k == nullptr ? "rsa" : k->value;
  if (type == "rsa") {
    key.algorithm = DkimAlgorithm::kRsaSha256;
    key.key = RsaKey(der);
    if (key.key == nullptr || EVP_PKEY_id(key.key.get()) != EVP_PKEY_RSA)
      return Bad("p= is not an RSA public key");
    const unsigned bits = EVP_PKEY_bits(key.key.get());
    if (bits < 1024 || bits > 8192) return Bad(absl::StrCat("an RSA key of ", bits, " bits"));
  } else if (type == "ed25519") {
    key.algorithm = DkimAlgorithm::kEd25519Sha256;
    if (der.size() != ED25519_PUBLIC_KEY_LEN) return Bad("p= is not an Ed25519 public key");
    key.key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              reinterpret_cast<const uint8_t*>(der.data()), der.size()));
    if (key.key == nullptr) return Bad("p= is not an Ed25519 public key");
  } else {
    return Bad("an unknown key type in k=");
  }
  return key;
}

bool DkimSignatureMatches(const DkimPublicKey& key, absl::string_view data, absl::string_view signature) {
  bssl::ScopedEVP_MD_CTX context;
  const auto* sig = reinterpret_cast<const uint8_t*>(signature.data());
  if (key.algorithm == DkimAlgorithm::kRsaSha256) {
    return EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, key.key.get()) == 1 &&
           EVP_DigestVerify(context.get(), sig, signature.size(),
                            reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 1;
  }
  // RFC 8463 §3: Ed25519 over the SHA-256 hash of the data.
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  return EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.key.get()) == 1 &&
         EVP_DigestVerify(context.get(), sig, signature.size(), digest, sizeof(digest)) == 1;
}

}  // namespace ringpost::net
