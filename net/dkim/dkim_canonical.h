// DKIM canonicalization (RFC 6376 §3.4): how a signer and a verifier agree on the bytes
// a signature covers, whatever the mail systems in between did to whitespace. Pure.
//
// Headers: "simple" keeps a header field as it is; "relaxed" lower-cases the name,
// unfolds, turns every run of whitespace into one space and drops whitespace at the
// end of the value and around the colon. Body: "simple" drops empty lines at the end
// (an empty body is one CRLF); "relaxed" also drops whitespace at the end of each line
// and turns each run of whitespace into one space (an empty body is empty). The body
// canonicalizer streams: bytes in any pieces, the canonical bytes out to a sink (the
// hash), with empty lines held back until a non-empty one shows they were not the end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ringpost::net {

enum class Canonicalization { kSimple, kRelaxed };

// A whole header field, "Name: value\r\n" with any folding, canonicalized (the result
// ends in CRLF).
std::string CanonicalHeader(absl::string_view field, Canonicalization mode);

// The lower-case name of a header field ("Subject: x" → "subject").
std::string HeaderFieldName(absl::string_view field);

// The canonical header fields a signature covers (RFC 6376 §5.4.2), for the names of
// h= in order: each name takes the last instance not taken yet (bottom-up); a name
// with no instance left (over-signed) contributes nothing.
std::string CanonicalSignedHeaders(absl::Span<const absl::string_view> fields,
                                   absl::Span<const std::string> names, Canonicalization mode);

class BodyCanonicalizer {
 public:
  using Sink = std::function<void(absl::string_view)>;
  BodyCanonicalizer(Canonicalization mode, Sink sink) : mode_(mode), sink_(std::move(sink)) {}

  // Body bytes with CRLF line ends, in order, in any pieces.
  void Add(absl::string_view bytes);
  // The end of the body: the last line and what RFC 6376 §3.4.3/§3.4.4 ask for an
  // empty body. Call once.
  void Finish();
  uint64_t canonical_bytes() const { return canonical_bytes_; }

 private:
  void EndLine();  // a CRLF arrived: the line goes out, or waits if empty
  void Emit(absl::string_view bytes);

  const Canonicalization mode_;
  Sink sink_;
  std::string line_;            // the current line without its CRLF (relaxed: spaces already folded)
  bool pending_cr_ = false;     // the line's CR, until its LF
  bool pending_space_ = false;  // relaxed: whitespace seen, written only if more follows on the line
  uint64_t empty_lines_ = 0;    // held back: they count only if a non-empty line follows
  bool any_line_ = false;       // a non-empty line went out
  uint64_t canonical_bytes_ = 0;
};

}  // namespace ringpost::net
