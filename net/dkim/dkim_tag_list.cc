#include "net/dkim/dkim_tag_list.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ringpost::net {
namespace {

bool IsFoldingWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

absl::string_view TrimFoldingWhitespace(absl::string_view s) {
  while (!s.empty() && IsFoldingWhitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsFoldingWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsTagName(absl::string_view name) {
  if (name.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// tval = 1*VALCHAR with FWS between; VALCHAR = %x21-3A / %x3C-7E (no ';').
bool IsTagValue(absl::string_view value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (!IsFoldingWhitespace(c) && (u < 0x21 || u > 0x7E)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<DkimTag>> ParseDkimTagList(absl::string_view text) {
  std::vector<DkimTag> tags;
  while (!text.empty()) {
    const size_t semicolon = text.find(';');
    const absl::string_view spec = text.substr(0, semicolon);
    text = semicolon == absl::string_view::npos ? absl::string_view() : text.substr(semicolon + 1);
    // §3.2: the last tag may be followed by a ';' (an empty spec after it).
    if (TrimFoldingWhitespace(spec).empty()) {
      if (!text.empty() && !TrimFoldingWhitespace(text).empty())
        return absl::InvalidArgumentError("an empty tag");
      break;
    }
    const size_t equals = spec.find('=');
    if (equals == absl::string_view::npos) return absl::InvalidArgumentError("a tag without '='");
    const absl::string_view name = TrimFoldingWhitespace(spec.substr(0, equals));
    if (!IsTagName(name)) return absl::InvalidArgumentError("a malformed tag name");
    const absl::string_view raw = spec.substr(equals + 1);
    if (!IsTagValue(raw)) return absl::InvalidArgumentError(absl::StrCat("a malformed value of ", name, "="));
    if (FindDkimTag(tags, name) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("tag ", name, "= given twice"));
    }
    if (tags.size() == kDkimTagsMax) return absl::InvalidArgumentError("too many tags");
    tags.push_back(DkimTag{name, TrimFoldingWhitespace(raw), raw});
  }
  return tags;
}

const DkimTag* FindDkimTag(const std::vector<DkimTag>& tags, absl::string_view name) {
  for (const DkimTag& tag : tags) {
    if (tag.name == name) return &tag;
  }
  return nullptr;
}

std::string WithoutFoldingWhitespace(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (!IsFoldingWhitespace(c)) out += c;
  }
  return out;
}

}  // namespace ringpost::net
