// RFC 6376 §3.2 tag lists ("v=1; a=rsa-sha256; d=example.com; ..."), the syntax of
// both the DKIM-Signature header field and the key record in DNS. Pure and bounded: at
// most kTagsMax tags; a tag named twice, a name that is not ALPHA *(ALPHA / DIGIT /
// "_"), or a byte outside the allowed ones is an error (§3.2: "Tags with duplicate
// names MUST NOT occur").
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

struct DkimTag {
  absl::string_view name;
  absl::string_view value;      // without the whitespace around it (FWS inside is kept)
  absl::string_view raw_value;  // everything between '=' and ';' (or the end)
};

inline constexpr size_t kDkimTagsMax = 64;

// Views into `text`.
absl::StatusOr<std::vector<DkimTag>> ParseDkimTagList(absl::string_view text);

// The value of tag `name`, or null.
const DkimTag* FindDkimTag(const std::vector<DkimTag>& tags, absl::string_view name);

// `value` with every space, tab, CR and LF removed (base64 values may be folded).
std::string WithoutFoldingWhitespace(absl::string_view value);

}  // namespace ringpost::net
