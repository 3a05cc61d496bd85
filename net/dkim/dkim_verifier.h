// DKIM verification (RFC 6376 §6) of a received message, and the
// Authentication-Results field that reports it (RFC 8601). Pure: the header section
// goes in at construction, the body streams through AddBody, the key records come in
// from the caller's DNS lookups, and the verdicts come out.
//
// Bounded: at most kDkimSignaturesMax signatures are checked (the topmost, the ones
// added last); more are not evaluated. A malformed signature is "neutral" with the
// reason, a key that is missing or unusable "permerror", a lookup that failed
// "temperror", a hash that does not match "fail" (RFC 8601 §2.7.1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "net/dkim/dkim_signature.h"

namespace ringpost::net {

inline constexpr size_t kDkimSignaturesMax = 8;

enum class DkimVerdict { kPass, kFail, kNeutral, kTempError, kPermError };
const char* DkimVerdictName(DkimVerdict verdict);  // "pass", "fail", ...

struct DkimCheck {
  DkimVerdict verdict = DkimVerdict::kNeutral;
  std::string domain, selector;  // header.d, header.s (empty when unreadable)
  std::string b_text;            // header.b: the signature's first characters
  std::string reason;            // why it did not pass
};

// The answer to a key lookup.
struct DkimKeyLookup {
  enum class Outcome { kFound, kNotFound, kTempError };
  Outcome outcome = Outcome::kTempError;
  std::string record;  // kFound: the TXT record
};

class DkimVerifier {
 public:
  // `section`: the message's header section; `now`: seconds since the epoch (x=).
  DkimVerifier(absl::string_view section, int64_t now);
  ~DkimVerifier();
  DkimVerifier(const DkimVerifier&) = delete;
  DkimVerifier& operator=(const DkimVerifier&) = delete;

  size_t signatures() const { return signatures_.size(); }
  // The body, in any pieces; then FinishBody once.
  void AddBody(absl::string_view bytes);
  void FinishBody();
  // The DNS names of the keys the signatures need ("sel._domainkey.example.com"),
  // without repeats.
  std::vector<std::string> KeyNames() const;
  // One verdict per signature, top to bottom; `keys` answers KeyNames().
  std::vector<DkimCheck> Check(const absl::flat_hash_map<std::string, DkimKeyLookup>& keys) const;

 private:
  struct Signature;
  std::string section_;
  std::vector<absl::string_view> fields_;  // views into section_
  std::vector<std::unique_ptr<Signature>> signatures_;
  int64_t now_ = 0;
};

// "Authentication-Results: AUTHSERV-ID;\r\n\tdkim=pass header.d=... header.s=...
// header.b=...\r\n", or "...; dkim=none\r\n" when there is no signature.
std::string AuthenticationResultsField(absl::string_view authserv_id, absl::Span<const DkimCheck> checks);

// The authserv-id of an Authentication-Results field (the token before the first
// ';'), lower case; empty if it has none.
std::string AuthservIdOf(absl::string_view field);

}  // namespace ringpost::net
