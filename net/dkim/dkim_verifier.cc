#include "net/dkim/dkim_verifier.h"

#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/dkim/dkim_canonical.h"
#include "net/dkim/dkim_key_record.h"
#include "net/dkim/header_fields.h"

namespace ringpost::net {

// One signature: what it says, and the hash of the body as its c= and l= read it.
struct DkimVerifier::Signature {
  explicit Signature(absl::string_view field) {
    parsed = ParseDkimSignature(field, &signature);
    if (!parsed.ok()) return;
    SHA256_Init(&sha);
    remaining = signature.body_length.value_or(UINT64_MAX);
    canonicalizer = std::make_unique<BodyCanonicalizer>(signature.body_mode, [this](absl::string_view bytes) {
      const size_t take = bytes.size() < remaining ? bytes.size() : remaining;
      SHA256_Update(&sha, bytes.data(), take);
      remaining -= take;
    });
  }
  DkimSignature signature;
  absl::Status parsed;
  SHA256_CTX sha;
  uint64_t remaining = 0;  // canonical body bytes still covered (l=)
  std::unique_ptr<BodyCanonicalizer> canonicalizer;
  std::string body_hash;    // after FinishBody
  bool body_short = false;  // l= claims more than the body has
};

const char* DkimVerdictName(DkimVerdict verdict) {
  switch (verdict) {
    case DkimVerdict::kPass:
      return "pass";
    case DkimVerdict::kFail:
      return "fail";
    case DkimVerdict::kNeutral:
      return "neutral";
    case DkimVerdict::kTempError:
      return "temperror";
    case DkimVerdict::kPermError:
      return "permerror";
  }
  return "neutral";
}

DkimVerifier::DkimVerifier(absl::string_view section, int64_t now) : section_(section), now_(now) {
  fields_ = SplitHeaderFields(section_);
  for (absl::string_view field : fields_) {
    if (signatures_.size() == kDkimSignaturesMax) break;
    if (HeaderFieldName(field) == "dkim-signature") signatures_.push_back(std::make_unique<Signature>(field));
  }
}

DkimVerifier::~DkimVerifier() = default;

void DkimVerifier::AddBody(absl::string_view bytes) {
  for (auto& s : signatures_) {
    if (s->canonicalizer != nullptr) s->canonicalizer->Add(bytes);
  }
}

void DkimVerifier::FinishBody() {
  for (auto& s : signatures_) {
    if (s->canonicalizer == nullptr) continue;
    s->canonicalizer->Finish();
    s->body_short = s->remaining > 0 && s->signature.body_length.has_value();
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256_Final(digest, &s->sha);
    s->body_hash.assign(reinterpret_cast<const char*>(digest), sizeof(digest));
  }
}

std::vector<std::string> DkimVerifier::KeyNames() const {
  std::vector<std::string> names;
  for (const auto& s : signatures_) {
    if (!s->parsed.ok()) continue;
    std::string name =
        absl::StrCat(absl::AsciiStrToLower(s->signature.selector), "._domainkey.", s->signature.domain);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  }
  return names;
}

std::vector<DkimCheck> DkimVerifier::Check(
    const absl::flat_hash_map<std::string, DkimKeyLookup>& keys) const {
  std::vector<DkimCheck> checks;
  for (const auto& s : signatures_) {
    const DkimSignature& sig = s->signature;
    DkimCheck& check = checks.emplace_back();
    check.domain = sig.domain;
    check.selector = sig.selector;
    check.b_text = sig.b_text.substr(0, 8);
    auto verdict = [&check](DkimVerdict v, absl::string_view reason) {
      check.verdict = v;
      check.reason = std::string(reason);
    };
    if (!s->parsed.ok()) {
      verdict(DkimVerdict::kNeutral, absl::StrCat("bad signature: ", s->parsed.message()));
      continue;
    }
    if (sig.expiry.has_value() && *sig.expiry < now_) {
      verdict(DkimVerdict::kNeutral, "signature expired");
      continue;
    }
    auto key = keys.find(absl::StrCat(absl::AsciiStrToLower(sig.selector), "._domainkey.", sig.domain));
    if (key == keys.end() || key->second.outcome == DkimKeyLookup::Outcome::kTempError) {
      verdict(DkimVerdict::kTempError, "key lookup failed");
      continue;
    }
    if (key->second.outcome == DkimKeyLookup::Outcome::kNotFound) {
      verdict(DkimVerdict::kPermError, "no key");
      continue;
    }
    absl::StatusOr<DkimPublicKey> public_key = ParseDkimKeyRecord(key->second.record);
    if (!public_key.ok()) {
      verdict(DkimVerdict::kPermError, public_key.status().message());
      continue;
    }
    if (public_key->algorithm != sig.algorithm) {
      verdict(DkimVerdict::kPermError, "the key's type does not match a=");
      continue;
    }
    if (s->body_short) {
      verdict(DkimVerdict::kFail, "l= is longer than the body");
      continue;
    }
    if (s->body_hash != sig.body_hash) {
      verdict(DkimVerdict::kFail, "body hash did not verify");
      continue;
    }
    if (!DkimSignatureMatches(*public_key, DkimSignedData(sig, fields_), sig.signature)) {
      verdict(DkimVerdict::kFail, "signature did not verify");
      continue;
    }
    verdict(DkimVerdict::kPass, "");
  }
  return checks;
}

namespace {

// RFC 8601 §2.2: a property value is a token or a quoted string (RFC 2045 tspecials
// need the quotes; base64's '/' and '=' are among them).
std::string PropertyValue(absl::string_view value) {
  for (char c : value) {
    if (absl::string_view("()<>@,;:\\\"/[]?= ").find(c) != absl::string_view::npos) {
      return absl::StrCat("\"", value, "\"");
    }
  }
  return std::string(value);
}

// A reason as an RFC 5322 comment: parentheses and backslashes escaped.
std::string Comment(absl::string_view reason) {
  std::string out = " (";
  for (char c : reason) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    if (c == '\r' || c == '\n') continue;
    out += c;
  }
  return out + ")";
}

}  // namespace

std::string AuthenticationResultsField(absl::string_view authserv_id, absl::Span<const DkimCheck> checks) {
  if (checks.empty()) return absl::StrCat("Authentication-Results: ", authserv_id, "; dkim=none\r\n");
  std::vector<std::string> results;
  for (const DkimCheck& check : checks) {
    std::string result = absl::StrCat("dkim=", DkimVerdictName(check.verdict));
    if (!check.reason.empty()) result += Comment(check.reason);
    if (!check.domain.empty()) absl::StrAppend(&result, " header.d=", check.domain);
    if (!check.selector.empty()) absl::StrAppend(&result, " header.s=", PropertyValue(check.selector));
    if (!check.b_text.empty()) absl::StrAppend(&result, " header.b=", PropertyValue(check.b_text));
    results.push_back(std::move(result));
  }
  return absl::StrCat("Authentication-Results: ", authserv_id, ";\r\n\t", absl::StrJoin(results, ";\r\n\t"),
                      "\r\n");
}

std::string AuthservIdOf(absl::string_view field) {
  const size_t colon = field.find(':');
  if (colon == absl::string_view::npos) return "";
  absl::string_view value = field.substr(colon + 1);
  // The authserv-id is the first token, after any comment or folding whitespace.
  size_t at = 0;
  while (at < value.size()) {
    const char c = value[at];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++at;
    } else if (c == '(') {
      int depth = 0;
      for (; at < value.size(); ++at) {
        if (value[at] == '(') ++depth;
        if (value[at] == ')' && --depth == 0) break;
      }
      if (at == value.size()) return "";  // a comment that never ends
      ++at;
    } else {
      break;
    }
  }
  size_t end = at;
  while (end < value.size() && value[end] != ';' && value[end] != ' ' && value[end] != '\t' &&
         value[end] != '\r' && value[end] != '\n' && value[end] != '(') {
    ++end;
  }
  return absl::AsciiStrToLower(value.substr(at, end - at));
}

}  // namespace ringpost::net
