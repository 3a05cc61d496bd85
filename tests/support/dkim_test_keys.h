// Fresh DKIM keys for tests and benchmarks: a PEM private key of the asked type, made
// by BoringSSL (empty if it could not make one: the key then fails to parse).
#pragma once

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <string>

namespace ringpost::testing {

inline std::string PemOf(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  const uint8_t* data = nullptr;
  size_t length = 0;
  BIO_mem_contents(bio.get(), &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

inline std::string NewKeyPem(int type, int rsa_bits = 2048) {
  bssl::UniquePtr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_id(type, nullptr));
  EVP_PKEY* key = nullptr;
  if (context == nullptr || EVP_PKEY_keygen_init(context.get()) != 1) return "";
  if (type == EVP_PKEY_RSA) EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), rsa_bits);
  if (type == EVP_PKEY_EC) EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context.get(), NID_X9_62_prime256v1);
  if (EVP_PKEY_keygen(context.get(), &key) != 1) return "";
  bssl::UniquePtr<EVP_PKEY> owned(key);
  return PemOf(key);
}

}  // namespace ringpost::testing
