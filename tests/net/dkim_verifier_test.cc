// DKIM verification (RFC 6376 §3.2, §3.5, §3.6.1, §6; RFC 8463) and its report (RFC
// 8601): the tag-list, signature and key-record parsers on the RFCs' examples and on
// hostile input, signatures made here and by Debian's python3-dkim (dkimpy) checked,
// and tampered ones refused.
#include "net/dkim/dkim_verifier.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "net/dkim/dkim_key_record.h"
#include "net/dkim/dkim_signature.h"
#include "net/dkim/dkim_tag_list.h"
#include "net/dkim/header_fields.h"
#include "tests/support/dkim_test_keys.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::net {
namespace {

constexpr int64_t kNow = 1796000000;

TEST(DkimTagListTest, Rfc6376_3_2_TagsValuesAndWhitespace) {
  auto tags = ParseDkimTagList(" v=1;  a = rsa-sha256 ;\r\n\tbh= abc\r\n def ;");
  ASSERT_TRUE(tags.ok()) << tags.status();
  ASSERT_EQ(tags->size(), 3u);
  EXPECT_EQ((*tags)[1].name, "a");
  EXPECT_EQ((*tags)[1].value, "rsa-sha256");
  EXPECT_EQ((*tags)[2].value, "abc\r\n def");
  EXPECT_EQ(WithoutFoldingWhitespace((*tags)[2].value), "abcdef");
  EXPECT_EQ(FindDkimTag(*tags, "bh")->raw_value, " abc\r\n def ");
  EXPECT_EQ(FindDkimTag(*tags, "A"), nullptr);  // names are case-sensitive
}

TEST(DkimTagListTest, Rfc6376_3_2_HostileListsAreErrors) {
  EXPECT_EQ(ParseDkimTagList("v=1; v=1").status().message(), "tag v= given twice");
  EXPECT_EQ(ParseDkimTagList("v").status().message(), "a tag without '='");
  EXPECT_EQ(ParseDkimTagList("1v=1").status().message(), "a malformed tag name");
  EXPECT_EQ(ParseDkimTagList("a=1;;b=2").status().message(), "an empty tag");
  EXPECT_EQ(ParseDkimTagList(std::string("a=\x01")).status().message(), "a malformed value of a=");
  std::string many;
  for (int i = 0; i < 65; ++i) absl::StrAppend(&many, "t", i, "=x;");
  EXPECT_EQ(ParseDkimTagList(many).status().message(), "too many tags");
}

std::string SignatureField(absl::string_view tags) { return absl::StrCat("DKIM-Signature: ", tags, "\r\n"); }

constexpr absl::string_view kGoodTags =
    "v=1; a=rsa-sha256; d=Example.COM; s=sel; c=relaxed/simple; h=from:to; "
    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA";

TEST(DkimSignatureTest, Rfc6376_3_5_TheRequiredTagsAndTheirValues) {
  DkimSignature s;
  ASSERT_TRUE(ParseDkimSignature(SignatureField(kGoodTags), &s).ok());
  EXPECT_EQ(s.domain, "example.com");
  EXPECT_EQ(s.selector, "sel");
  EXPECT_EQ(s.header_mode, Canonicalization::kRelaxed);
  EXPECT_EQ(s.body_mode, Canonicalization::kSimple);
  EXPECT_EQ(s.signed_names, (std::vector<std::string>{"from", "to"}));
  EXPECT_FALSE(s.body_length.has_value());
  // §3.7: the field as signed has b= empty.
  EXPECT_EQ(s.own_field.substr(s.own_field.size() - 2), "b=");
}

TEST(DkimSignatureTest, Rfc6376_3_5_MalformedSignaturesSayWhy) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {absl::StrReplaceAll(kGoodTags, {{"v=1", "v=2"}}), "v= is not 1"},
      {absl::StrReplaceAll(kGoodTags, {{"h=from:to", "h=to"}}), "h= does not sign From"},
      {absl::StrReplaceAll(kGoodTags, {{"a=rsa-sha256", "a=rsa-sha1"}}),
       "rsa-sha1 is no longer accepted (RFC 8301)"},
      {absl::StrReplaceAll(kGoodTags, {{"b=AAAA", "b=\x7f"}}), "a malformed value of b="},
      {absl::StrReplaceAll(kGoodTags, {{"b=AAAA", "b=A*AA"}}), "b= is not base64"},
      {absl::StrReplaceAll(kGoodTags, {{"bh=47", "bh=48x"}}), "bh= is not a SHA-256 hash in base64"},
      {absl::StrCat(kGoodTags, "; l=99999999999999999999999"), "a malformed or absurd l="},
      {absl::StrCat(kGoodTags, "; i=joe@evil.example"), "i= is not in the domain of d="},
      {absl::StrCat(kGoodTags, "; t=20; x=10"), "x= is before t="},
      {absl::StrReplaceAll(kGoodTags, {{"d=Example.COM", "d=exa mple"}}), "a malformed d="},
      {absl::StrCat(kGoodTags, "; q=http"), "q= names no dns/txt"},
  };
  for (const auto& [tags, why] : cases) {
    DkimSignature s;
    EXPECT_EQ(ParseDkimSignature(SignatureField(tags), &s).message(), why) << tags;
  }
  // The report can still name the signer of a broken signature.
  DkimSignature s;
  EXPECT_FALSE(ParseDkimSignature(SignatureField(absl::StrReplaceAll(kGoodTags, {{"v=1", "v=9"}})), &s).ok());
  EXPECT_EQ(s.domain, "example.com");
  EXPECT_EQ(s.selector, "sel");
}

TEST(DkimKeyRecordTest, Rfc6376_3_6_1_KeysAndWhatIsNotOne) {
  absl::StatusOr<DkimKey> ed = ParseDkimPrivateKey(testing::NewKeyPem(EVP_PKEY_ED25519));
  absl::StatusOr<DkimKey> rsa = ParseDkimPrivateKey(testing::NewKeyPem(EVP_PKEY_RSA));
  ASSERT_TRUE(ed.ok() && rsa.ok());
  auto ed_public = ParseDkimKeyRecord(DkimPublicKeyRecord(*ed));
  ASSERT_TRUE(ed_public.ok()) << ed_public.status();
  EXPECT_EQ(ed_public->algorithm, DkimAlgorithm::kEd25519Sha256);
  // A long key split over strings and folded with whitespace still reads.
  std::string folded = DkimPublicKeyRecord(*rsa);
  folded.insert(folded.size() - 40, " \t ");
  auto rsa_public = ParseDkimKeyRecord(folded + "; t=y");
  ASSERT_TRUE(rsa_public.ok()) << rsa_public.status();
  EXPECT_EQ(rsa_public->algorithm, DkimAlgorithm::kRsaSha256);
  EXPECT_TRUE(rsa_public->testing);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"v=DKIM1; p=", "the key is revoked (empty p=)"},
      {"v=DKIM1; k=rsa", "a key record without p="},
      {"k=rsa; v=DKIM1; p=AAAA", "not a DKIM1 key record"},
      {"v=spf1 include:example.com -all", "not a DKIM1 key record"},
      {"p=AAAA; garbage", "not a key record: a tag without '='"},
      {"v=DKIM1; p=AAAA", "p= is not an RSA public key"},
      {"v=DKIM1; k=ed25519; p=AAAA", "p= is not an Ed25519 public key"},
      {"v=DKIM1; k=dsa; p=AAAA", "an unknown key type in k="},
      {"v=DKIM1; h=sha1; p=AAAA", "the key does not allow sha256"},
      {"v=DKIM1; s=tlsrpt; p=AAAA", "the key is not for email"},
      {std::string(20000, 'p'), "a key record over 16 KiB"},
  };
  for (const auto& [record, why] : cases)
    EXPECT_EQ(ParseDkimKeyRecord(record).status().message(), why) << record;
}

TEST(HeaderFieldsTest, Rfc5322_2_2_SectionFieldsAndTheFromDomain) {
  HeaderSectionReader reader;
  const std::string message = "From: Joe <joe@Example.COM>\r\nSubject: a\r\n  folded\r\n\r\nbody\r\n";
  // Fed a byte at a time, the reader stops right after the empty line.
  size_t taken = 0;
  for (size_t i = 0; i < message.size() && !reader.ended(); ++i) taken += reader.Feed(message.substr(i, 1));
  EXPECT_EQ(message.substr(taken), "body\r\n");
  const std::vector<absl::string_view> fields = SplitHeaderFields(reader.bytes());
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[1], "Subject: a\r\n  folded\r\n");
  EXPECT_EQ(FromDomain(fields[0]), "example.com");
  EXPECT_EQ(FromDomain("From: joe@example.org (Joe)\r\n"), "example.org");
  EXPECT_EQ(FromDomain("From: \"a@b\" <x@y.example>, z@w.example\r\n"), "y.example");
  EXPECT_EQ(FromDomain("From: undisclosed\r\n"), "");
  EXPECT_EQ(FromDomain("From: <x@exa$mple>\r\n"), "");
  // A cut-off section: the partial field at its end is not one.
  size_t complete = 0;
  EXPECT_EQ(SplitHeaderFields("A: 1\r\nB: 2\r\n", &complete).size(), 1u);
  EXPECT_EQ(complete, 6u);
  HeaderSectionReader big;
  const std::string line = "X-Filler: " + std::string(1000, 'x') + "\r\n";
  for (int i = 0; i < 300 && !big.ended(); ++i) big.Feed(line);
  EXPECT_TRUE(big.overflowed());
  EXPECT_EQ(big.bytes().size(), kHeaderSectionBytesMax);
}

// A message signed here: header fields, the signature, the body.
struct SignedMessage {
  std::string section;  // header section with the signature on top, empty line included
  std::string body;
  std::string record;  // the key record to publish
};

SignedMessage SignHere(int key_type, Canonicalization mode, absl::string_view body) {
  absl::StatusOr<DkimKey> key = ParseDkimPrivateKey(testing::NewKeyPem(key_type));
  EXPECT_TRUE(key.ok());
  const std::vector<std::string> headers = {"From: Joe <joe@example.com>\r\n", "To: sue@example.net\r\n",
                                            "Subject: Hello\r\n\tagain\r\n"};
  DkimSignRequest request;
  request.domain = "example.com";
  request.selector = "sel";
  request.header_mode = request.body_mode = mode;
  request.header_fields.assign(headers.begin(), headers.end());
  request.signed_names = {"from", "from", "to", "subject"};
  DkimBodyHasher hasher(mode);
  hasher.Add(body);
  request.body_hash = hasher.Finish();
  request.time = kNow - 10;
  SignedMessage m;
  m.section = *SignDkim(*key, request);
  for (const std::string& h : headers) m.section += h;
  m.section += "\r\n";
  m.body = std::string(body);
  m.record = DkimPublicKeyRecord(*key);
  return m;
}

std::vector<DkimCheck> Verify(const std::string& section, const std::string& body, const DkimKeyLookup& key) {
  DkimVerifier verifier(section, kNow);
  verifier.AddBody(body);
  verifier.FinishBody();
  absl::flat_hash_map<std::string, DkimKeyLookup> keys;
  for (const std::string& name : verifier.KeyNames()) keys[name] = key;
  return verifier.Check(keys);
}

DkimKeyLookup Found(std::string record) { return {DkimKeyLookup::Outcome::kFound, std::move(record)}; }

TEST(DkimVerifierTest, Rfc6376_6_SignaturesMadeHereVerifyAndTamperedOnesFail) {
  const std::string body = "Hi.\r\n\r\nWe lost the game.\r\n\r\n";
  for (const int type : {EVP_PKEY_RSA, EVP_PKEY_ED25519}) {
    for (const Canonicalization mode : {Canonicalization::kRelaxed, Canonicalization::kSimple}) {
      SignedMessage m = SignHere(type, mode, body);
      std::vector<DkimCheck> checks = Verify(m.section, m.body, Found(m.record));
      ASSERT_EQ(checks.size(), 1u);
      EXPECT_EQ(checks[0].verdict, DkimVerdict::kPass) << checks[0].reason;
      EXPECT_EQ(checks[0].domain, "example.com");
      EXPECT_EQ(checks[0].selector, "sel");
      checks = Verify(m.section, "Hi.\r\n\r\nWe WON the game.\r\n", Found(m.record));
      EXPECT_EQ(checks[0].verdict, DkimVerdict::kFail);
      EXPECT_EQ(checks[0].reason, "body hash did not verify");
      checks = Verify(absl::StrReplaceAll(m.section, {{"Hello", "Bye"}}), m.body, Found(m.record));
      EXPECT_EQ(checks[0].reason, "signature did not verify");
      // From is over-signed: one added above the rest breaks the signature.
      const size_t after_signature = m.section.find("From:");
      std::string added = m.section;
      added.insert(after_signature, "From: mallory@evil.example\r\n");
      EXPECT_EQ(Verify(added, m.body, Found(m.record))[0].verdict, DkimVerdict::kFail);
    }
  }
}

TEST(DkimVerifierTest, Rfc8601_2_7_1_KeyProblemsAreErrorsNotPasses) {
  SignedMessage m = SignHere(EVP_PKEY_ED25519, Canonicalization::kRelaxed, "x\r\n");
  EXPECT_EQ(Verify(m.section, m.body, {DkimKeyLookup::Outcome::kNotFound, ""})[0].verdict,
            DkimVerdict::kPermError);
  EXPECT_EQ(Verify(m.section, m.body, {DkimKeyLookup::Outcome::kTempError, ""})[0].verdict,
            DkimVerdict::kTempError);
  std::vector<DkimCheck> revoked = Verify(m.section, m.body, Found("v=DKIM1; k=ed25519; p="));
  EXPECT_EQ(revoked[0].verdict, DkimVerdict::kPermError);
  EXPECT_EQ(revoked[0].reason, "the key is revoked (empty p=)");
  SignedMessage other = SignHere(EVP_PKEY_RSA, Canonicalization::kRelaxed, "x\r\n");
  EXPECT_EQ(Verify(m.section, m.body, Found(other.record))[0].reason, "the key's type does not match a=");
  EXPECT_EQ(Verify(m.section, m.body, Found("v=spf1 -all"))[0].verdict, DkimVerdict::kPermError);
}

TEST(DkimVerifierTest, Rfc6376_3_5_LengthExpiryAndSignatureCount) {
  // l= longer than the body fails; x= in the past is neutral (expired).
  const std::string section =
      SignatureField(absl::StrCat(kGoodTags, "; l=500")) + "From: a@example.com\r\n\r\n";
  std::vector<DkimCheck> checks = Verify(section, "short\r\n", Found("v=DKIM1; p=AAAA"));
  EXPECT_EQ(checks[0].verdict, DkimVerdict::kPermError);  // the key is checked first
  const std::string expired =
      SignatureField(absl::StrCat(kGoodTags, "; t=1; x=2")) + "From: a@example.com\r\n\r\n";
  checks = Verify(expired, "", Found("v=DKIM1; p=AAAA"));
  EXPECT_EQ(checks[0].verdict, DkimVerdict::kNeutral);
  EXPECT_EQ(checks[0].reason, "signature expired");
  // Thousands of signatures: only kDkimSignaturesMax are looked at, and one key name.
  std::string many;
  for (int i = 0; i < 5000; ++i) many += SignatureField(kGoodTags);
  DkimVerifier verifier(many + "From: a@example.com\r\n\r\n", kNow);
  EXPECT_EQ(verifier.signatures(), kDkimSignaturesMax);
  EXPECT_EQ(verifier.KeyNames(), std::vector<std::string>{"sel._domainkey.example.com"});
}

TEST(DkimVerifierTest, Rfc8601_2_2_TheReportField) {
  EXPECT_EQ(AuthenticationResultsField("mx.example.org", {}),
            "Authentication-Results: mx.example.org; dkim=none\r\n");
  DkimCheck pass{DkimVerdict::kPass, "example.com", "sel", "ab/cd+e=", ""};
  DkimCheck fail{DkimVerdict::kFail, "example.net", "s2", "abcdefgh", "body hash did not verify"};
  const std::vector<DkimCheck> checks = {pass, fail};
  EXPECT_EQ(
      AuthenticationResultsField("mx.example.org", checks),
      "Authentication-Results: mx.example.org;\r\n\tdkim=pass header.d=example.com header.s=sel "
      "header.b=\"ab/cd+e=\";\r\n\tdkim=fail (body hash did not verify) header.d=example.net header.s=s2 "
      "header.b=abcdefgh\r\n");
  EXPECT_EQ(AuthservIdOf("Authentication-Results: MX.Example.ORG; dkim=pass\r\n"), "mx.example.org");
  EXPECT_EQ(AuthservIdOf("Authentication-Results: (comment) mx.example.org 1; none\r\n"), "mx.example.org");
  EXPECT_EQ(AuthservIdOf("Authentication-Results:\r\n"), "");
  EXPECT_EQ(AuthservIdOf("Authentication-Results: (never closed mx.example.org; none"), "");
}

std::string RawBase64(const DkimKey& key) {
  uint8_t raw[32];
  size_t length = sizeof(raw);
  EVP_PKEY_get_raw_private_key(key.key.get(), raw, &length);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(raw), length));
}

// dkimpy signs; ringpost verifies.
TEST(DkimVerifierTest, Rfc6376_APythonSignatureVerifies) {
  testing::ScratchDir dir("dkim_verifier_test");
  for (const int type : {EVP_PKEY_RSA, EVP_PKEY_ED25519}) {
    absl::StatusOr<DkimKey> key = ParseDkimPrivateKey(testing::NewKeyPem(type));
    ASSERT_TRUE(key.ok());
    // dkimpy reads RSA keys as PEM and Ed25519 keys as the base64 of their 32 bytes.
    std::ofstream(dir / "key.pem") << (type == EVP_PKEY_RSA ? testing::PemOf(key->key.get())
                                                            : RawBase64(*key));
    std::ofstream(dir / "message.eml", std::ios::binary)
        << "From: Joe <joe@example.com>\r\nTo: sue@example.net\r\nSubject: from dkimpy\r\n"
           "\r\nA body  with  spaces \r\n\r\n\r\n";
    const std::string script = absl::StrCat(
        "import dkim,sys; m=open(sys.argv[1],'rb').read(); k=open(sys.argv[2],'rb').read(); "
        "sys.stdout.buffer.write(dkim.sign(m, b'sel', b'example.com', k, signature_algorithm=b'",
        type == EVP_PKEY_RSA ? "rsa-sha256" : "ed25519-sha256",
        "', include_headers=[b'from', b'to', b'subject']) + m)");
    const std::string command = absl::StrCat("/usr/bin/python3 -c \"", script, "\" ", dir / "message.eml",
                                             " ", dir / "key.pem", " > ", dir / "signed.eml");
    ASSERT_EQ(std::system(command.c_str()), 0);
    std::ifstream in(dir / "signed.eml", std::ios::binary);
    std::stringstream signed_message;
    signed_message << in.rdbuf();
    std::string text = absl::StrReplaceAll(signed_message.str(), {{"\r\n", "\n"}});
    text = absl::StrReplaceAll(text, {{"\n", "\r\n"}});  // dkimpy folds with bare LF
    const size_t split = text.find("\r\n\r\n") + 4;
    std::vector<DkimCheck> checks =
        Verify(text.substr(0, split), text.substr(split), Found(DkimPublicKeyRecord(*key)));
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].verdict, DkimVerdict::kPass) << checks[0].reason << "\n" << text;
    checks = Verify(text.substr(0, split), "tampered\r\n", Found(DkimPublicKeyRecord(*key)));
    EXPECT_EQ(checks[0].verdict, DkimVerdict::kFail);
  }
}

}  // namespace
}  // namespace ringpost::net
