#include "net/dkim/dkim_signature.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/dkim/dkim_tag_list.h"

namespace ringpost::net {
namespace {

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

// A domain name or selector: dot-separated labels of letters, digits, '-' and '_'.
bool IsDomainLike(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > 63) return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    }
  }
  return true;
}

bool ParseDigits(absl::string_view text, size_t digits_max, uint64_t* out) {
  if (text.empty() || text.size() > digits_max) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, out);
}

bool ParseMode(absl::string_view text, Canonicalization* out) {
  if (text == "simple")
    *out = Canonicalization::kSimple;
  else if (text == "relaxed")
    *out = Canonicalization::kRelaxed;
  else
    return false;
  return true;
}

}  // namespace

absl::Status ParseDkimSignature(absl::string_view field, DkimSignature* out) {
  DkimSignature& s = *out;
  const size_t colon = field.find(':');
  if (colon == absl::string_view::npos) return Bad("not a header field");
  absl::StatusOr<std::vector<DkimTag>> parsed = ParseDkimTagList(field.substr(colon + 1));
  if (!parsed.ok()) return parsed.status();
  const std::vector<DkimTag>& tags = *parsed;
  auto tag = [&tags](absl::string_view name) { return FindDkimTag(tags, name); };
  // d= and s= first: a report names them even when something else is wrong.
  if (const DkimTag* d = tag("d"); d != nullptr && IsDomainLike(d->value))
    s.domain = absl::AsciiStrToLower(d->value);
  if (const DkimTag* sel = tag("s"); sel != nullptr && IsDomainLike(sel->value))
    s.selector = std::string(sel->value);
  for (absl::string_view required : {"v", "a", "b", "bh", "d", "h", "s"}) {
    if (tag(required) == nullptr) return Bad(absl::StrCat("no ", required, "= tag"));
  }
  if (tag("v")->value != "1") return Bad("v= is not 1");
  if (s.domain.empty()) return Bad("a malformed d=");
  if (s.selector.empty()) return Bad("a malformed s=");
  const absl::string_view algorithm = tag("a")->value;
  if (algorithm == "rsa-sha256") {
    s.algorithm = DkimAlgorithm::kRsaSha256;
  } else if (algorithm == "ed25519-sha256") {
    s.algorithm = DkimAlgorithm::kEd25519Sha256;
  } else if (algorithm == "rsa-sha1") {
    return Bad("rsa-sha1 is no longer accepted (RFC 8301)");
  } else {
    return Bad("an unknown algorithm in a=");
  }
  s.b_text = WithoutFoldingWhitespace(tag("b")->value);
  if (s.b_text.empty() || !absl::Base64Unescape(s.b_text, &s.signature)) return Bad("b= is not base64");
  if (!absl::Base64Unescape(WithoutFoldingWhitespace(tag("bh")->value), &s.body_hash) ||
      s.body_hash.size() != 32) {
    return Bad("bh= is not a SHA-256 hash in base64");
  }
  if (const DkimTag* c = tag("c"); c != nullptr) {
    const std::vector<absl::string_view> modes = absl::StrSplit(c->value, '/');
    if (modes.size() > 2 || !ParseMode(modes[0], &s.header_mode) ||
        (modes.size() == 2 && !ParseMode(modes[1], &s.body_mode))) {
      return Bad("a malformed c=");
    }
  }
  for (absl::string_view name : absl::StrSplit(WithoutFoldingWhitespace(tag("h")->value), ':')) {
    if (name.empty()) return Bad("an empty name in h=");
    if (s.signed_names.size() == kDkimSignedNamesMax) return Bad("too many names in h=");
    s.signed_names.push_back(absl::AsciiStrToLower(name));
  }
  // §5.4: the From field must be signed.
  if (std::find(s.signed_names.begin(), s.signed_names.end(), "from") == s.signed_names.end()) {
    return Bad("h= does not sign From");
  }
  if (const DkimTag* i = tag("i"); i != nullptr) {
    const size_t at = i->value.rfind('@');
    const std::string domain =
        absl::AsciiStrToLower(i->value.substr(at == absl::string_view::npos ? 0 : at + 1));
    if (at == absl::string_view::npos ||
        (domain != s.domain && !absl::EndsWith(domain, absl::StrCat(".", s.domain)))) {
      return Bad("i= is not in the domain of d=");
    }
  }
  if (const DkimTag* l = tag("l"); l != nullptr) {
    uint64_t length = 0;
    if (!ParseDigits(l->value, 18, &length)) return Bad("a malformed or absurd l=");
    s.body_length = length;
  }
  if (const DkimTag* q = tag("q"); q != nullptr) {
    bool dns = false;
    for (absl::string_view method : absl::StrSplit(WithoutFoldingWhitespace(q->value), ':'))
      dns |= method == "dns/txt";
    if (!dns) return Bad("q= names no dns/txt");
  }
  for (auto [name, field_out] : {std::pair{"t", &s.time}, std::pair{"x", &s.expiry}}) {
    if (const DkimTag* t = tag(name); t != nullptr) {
      uint64_t seconds = 0;
      if (!ParseDigits(t->value, 12, &seconds)) return Bad(absl::StrCat("a malformed ", name, "="));
      *field_out = static_cast<int64_t>(seconds);
    }
  }
  if (s.time && s.expiry && *s.expiry < *s.time) return Bad("x= is before t=");
  // §3.7: the signature's own field, with the value of b= (and the whitespace around
  // it) deleted.
  const absl::string_view b_raw = tag("b")->raw_value;
  const size_t b_start = static_cast<size_t>(b_raw.data() - field.data());
  std::string own = absl::StrCat(field.substr(0, b_start), field.substr(b_start + b_raw.size()));
  own = CanonicalHeader(own, s.header_mode);
  own.resize(own.size() - 2);
  s.own_field = std::move(own);
  return absl::OkStatus();
}

std::string DkimSignedData(const DkimSignature& signature, absl::Span<const absl::string_view> fields) {
  return CanonicalSignedHeaders(fields, signature.signed_names, signature.header_mode) + signature.own_field;
}

}  // namespace ringpost::net
