#include "tests/support/test_certificate.h"

#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>

#include "core/check.h"

namespace ringpost::testing {

TestCertificate WriteTestCertificate(const std::string& dir, const std::string& dns_name, KeyType type) {
  std::filesystem::create_directories(dir);
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (type == KeyType::kEcdsaP256) {
    bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    RP_CHECK(ec != nullptr && EC_KEY_generate_key(ec.get()) == 1);
    RP_CHECK(EVP_PKEY_assign_EC_KEY(key.get(), ec.release()) == 1);
  } else {
    bssl::UniquePtr<RSA> rsa(RSA_new());
    bssl::UniquePtr<BIGNUM> e(BN_new());
    RP_CHECK(BN_set_word(e.get(), RSA_F4) == 1 &&
             RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr) == 1);
    RP_CHECK(EVP_PKEY_assign_RSA(key.get(), rsa.release()) == 1);
  }

  bssl::UniquePtr<X509> cert(X509_new());
  RP_CHECK(X509_set_version(cert.get(), X509_VERSION_3) == 1);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const uint8_t*>(dns_name.c_str()), -1,
                             -1, 0);
  RP_CHECK(X509_set_issuer_name(cert.get(), name) == 1);
  RP_CHECK(X509_set_pubkey(cert.get(), key.get()) == 1);
  const std::string san = "DNS:" + dns_name;
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(
      X509V3_EXT_nconf_nid(nullptr, &context, NID_subject_alt_name, san.c_str()));
  RP_CHECK(ext != nullptr && X509_add_ext(cert.get(), ext.get(), -1) == 1);
  RP_CHECK(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);

  TestCertificate out{dir + "/" + dns_name + ".crt", dir + "/" + dns_name + ".key"};
  FILE* f = std::fopen(out.cert_path.c_str(), "w");
  RP_CHECK(f != nullptr && PEM_write_X509(f, cert.get()) == 1);
  std::fclose(f);
  f = std::fopen(out.key_path.c_str(), "w");
  RP_CHECK(f != nullptr && PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  std::fclose(f);
  return out;
}

}  // namespace ringpost::testing
