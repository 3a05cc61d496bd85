// DKIM signing (RFC 6376, RFC 8463): canonicalization by the RFC's own example, body
// hashes of the well-known empty bodies, any split of a streamed body, and signatures
// checked by a real verifier (Debian's python3-dkim, dkimpy) for RSA and Ed25519 keys.
#include "net/dkim/dkim_signer.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/dkim_test_keys.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::net {
namespace {

std::string BodyHash(Canonicalization mode, absl::string_view body, size_t piece = 0) {
  DkimBodyHasher hasher(mode);
  if (piece == 0) piece = body.size() + 1;
  for (size_t at = 0; at < body.size(); at += piece) hasher.Add(body.substr(at, piece));
  return hasher.Finish();
}

std::string Canonical(Canonicalization mode, absl::string_view body) {
  std::string out;
  BodyCanonicalizer c(mode, [&out](absl::string_view bytes) { out.append(bytes.data(), bytes.size()); });
  c.Add(body);
  c.Finish();
  return out;
}

TEST(DkimCanonicalTest, Rfc6376_3_4_5_TheExample) {
  EXPECT_EQ(CanonicalHeader("A: X\r\n", Canonicalization::kRelaxed), "a:X\r\n");
  EXPECT_EQ(CanonicalHeader("B : Y\t\r\n\tZ  \r\n", Canonicalization::kRelaxed), "b:Y Z\r\n");
  EXPECT_EQ(CanonicalHeader("B : Y\t\r\n\tZ  \r\n", Canonicalization::kSimple), "B : Y\t\r\n\tZ  \r\n");
  const absl::string_view body = " C \r\nD \t E\r\n\r\n\r\n";
  EXPECT_EQ(Canonical(Canonicalization::kRelaxed, body), " C\r\nD E\r\n");
  EXPECT_EQ(Canonical(Canonicalization::kSimple, body), " C \r\nD \t E\r\n");
}

TEST(DkimCanonicalTest, Rfc6376_3_4_3_And_3_4_4_EmptyBodiesAndStreaming) {
  // The hashes every DKIM implementation knows: SHA-256 of "\r\n" and of "".
  EXPECT_EQ(BodyHash(Canonicalization::kSimple, ""), "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
  EXPECT_EQ(BodyHash(Canonicalization::kRelaxed, ""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  EXPECT_EQ(BodyHash(Canonicalization::kRelaxed, "\r\n\r\n  \r\n"), BodyHash(Canonicalization::kRelaxed, ""));
  EXPECT_EQ(Canonical(Canonicalization::kSimple, "last line without end"), "last line without end\r\n");
  const std::string body = "Hi \t there,\r\n\r\n  indented\r\nand a CR\r alone\r\n\r\nend  \r\n\r\n";
  for (const Canonicalization mode : {Canonicalization::kSimple, Canonicalization::kRelaxed}) {
    const std::string whole = BodyHash(mode, body);
    for (size_t piece = 1; piece < 9; ++piece) EXPECT_EQ(BodyHash(mode, body, piece), whole) << piece;
  }
}

TEST(DkimKeyTest, RefusesWhatIsNotAnRsaOrEd25519Key) {
  EXPECT_EQ(ParseDkimPrivateKey("not a key").status().message(), "not a PEM private key");
  EXPECT_EQ(ParseDkimPrivateKey(testing::NewKeyPem(EVP_PKEY_EC)).status().message(),
            "a key that is neither RSA nor Ed25519");
  EXPECT_EQ(ParseDkimPrivateKey(testing::NewKeyPem(EVP_PKEY_RSA, 512)).status().message(),
            "an RSA key of 512 bits (1024 to 8192 are taken)");
  EXPECT_EQ(ParseDkimPrivateKey(std::string(70000, 'A')).status().message(), "a key file over 64 KiB");
}

// dkimpy verifies `message` against the key record; its exit status says whether it did.
bool PythonDkimVerifies(const testing::ScratchDir& dir, const std::string& message,
                        const std::string& record) {
  std::ofstream(dir / "message.eml", std::ios::binary) << message;
  std::ofstream(dir / "record.txt", std::ios::binary) << record;
  const std::string script =
      "import dkim,sys; m=open(sys.argv[1],'rb').read(); r=open(sys.argv[2],'rb').read(); "
      "sys.exit(0 if dkim.verify(m, dnsfunc=lambda name, timeout=5: r) else 1)";
  // Debian's interpreter: python3-dkim is installed for it (tools/install_deps.sh).
  const std::string command =
      absl::StrCat("/usr/bin/python3 -c \"", script, "\" ", dir / "message.eml", " ", dir / "record.txt");
  return std::system(command.c_str()) == 0;
}

TEST(DkimSignerTest, Rfc6376_And_Rfc8463_ARealVerifierAcceptsTheSignatures) {
  testing::ScratchDir dir("dkim_test");
  const std::vector<std::string> headers = {
      "From: Joe SixPack <joe@football.example.com>\r\n",
      "To: Suzie Q <suzie@shopping.example.net>\r\n",
      "Subject: Is dinner ready?\r\n",
      "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n",
      "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n",
  };
  const std::string body = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n";
  int checked = 0;
  for (const int type : {EVP_PKEY_RSA, EVP_PKEY_ED25519}) {
    absl::StatusOr<DkimKey> key = ParseDkimPrivateKey(testing::NewKeyPem(type));
    ASSERT_TRUE(key.ok()) << key.status();
    for (const Canonicalization mode : {Canonicalization::kRelaxed, Canonicalization::kSimple}) {
      DkimSignRequest request;
      request.domain = "football.example.com";
      request.selector = "brisbane";
      request.header_mode = request.body_mode = mode;
      request.header_fields.assign(headers.begin(), headers.end());
      // From twice: over-signed, so a second From: added later breaks the signature.
      request.signed_names = {"from", "from", "to", "subject", "date", "message-id", "reply-to"};
      request.body_hash = BodyHash(mode, body);
      request.time = 1796000000;
      absl::StatusOr<std::string> signature = SignDkim(*key, request);
      ASSERT_TRUE(signature.ok()) << signature.status();
      std::string message = *signature;
      for (const std::string& h : headers) message += h;
      message += "\r\n" + body;
      const std::string record = DkimPublicKeyRecord(*key);
      EXPECT_TRUE(PythonDkimVerifies(dir, message, record)) << message << record;
      // The same message with a changed body, or a From: added, no longer verifies.
      std::string tampered = message;
      tampered.replace(tampered.find("hungry"), 6, "HUNGRY");
      EXPECT_FALSE(PythonDkimVerifies(dir, tampered, record));
      EXPECT_FALSE(PythonDkimVerifies(dir, "From: mallory@example.org\r\n" + message, record));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4);
}

}  // namespace
}  // namespace ringpost::net
