// A self-signed certificate made in-process with BoringSSL, for TLS tests, the TLS fuzz
// target and the TLS benchmark (the integration tests make theirs with `openssl`).
#pragma once

#include <string>

namespace ringpost::testing {

struct TestCertificate {
  std::string cert_path;  // PEM certificate (also usable as the CA file that trusts it)
  std::string key_path;   // PEM private key
};

enum class KeyType { kEcdsaP256, kRsa2048 };

// Writes NAME.crt and NAME.key into `dir` (created): a key of `type` and a certificate
// for `dns_name` (subject CN and subjectAltName), valid from an hour ago for a day.
TestCertificate WriteTestCertificate(const std::string& dir, const std::string& dns_name,
                                     KeyType type = KeyType::kEcdsaP256);

}  // namespace ringpost::testing
