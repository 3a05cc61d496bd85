#include "net/dkim/dkim_canonical.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ringpost::net {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::string CanonicalHeader(absl::string_view field, Canonicalization mode) {
  if (mode == Canonicalization::kSimple) {
    std::string out(field);
    if (!absl::EndsWith(out, "\r\n")) out += "\r\n";
    return out;
  }
  const size_t colon = field.find(':');
  absl::string_view name = field.substr(0, colon);
  absl::string_view value = colon == absl::string_view::npos ? absl::string_view() : field.substr(colon + 1);
  std::string out = absl::AsciiStrToLower(absl::StripTrailingAsciiWhitespace(name));
  out += ':';
  // Unfold (drop CR and LF), then one space for each run of whitespace, none at the ends.
  bool space = false;
  bool started = false;
  for (const char c : value) {
    if (c == '\r' || c == '\n') continue;
    if (IsWsp(c)) {
      space = true;
      continue;
    }
    if (space && started) out += ' ';
    space = false;
    started = true;
    out += c;
  }
  out += "\r\n";
  return out;
}

std::string HeaderFieldName(absl::string_view field) {
  return absl::AsciiStrToLower(absl::StripTrailingAsciiWhitespace(field.substr(0, field.find(':'))));
}

std::string CanonicalSignedHeaders(absl::Span<const absl::string_view> fields,
                                   absl::Span<const std::string> names, Canonicalization mode) {
  // Field names are computed once; `taken` counts, per name, the instances used so far.
  std::vector<std::string> field_names;
  field_names.reserve(fields.size());
  for (absl::string_view field : fields) field_names.push_back(HeaderFieldName(field));
  absl::flat_hash_map<std::string, size_t> taken;
  std::string data;
  for (const std::string& name : names) {
    size_t& skip = taken[name];
    size_t seen = 0;
    for (size_t i = fields.size(); i-- > 0;) {
      if (field_names[i] != name) continue;
      if (seen++ < skip) continue;
      data += CanonicalHeader(fields[i], mode);
      break;
    }
    ++skip;
  }
  return data;
}

void BodyCanonicalizer::Emit(absl::string_view bytes) {
  canonical_bytes_ += bytes.size();
  sink_(bytes);
}

void BodyCanonicalizer::EndLine() {
  if (line_.empty()) {
    ++empty_lines_;  // maybe the end of the body: held back
    pending_space_ = false;
    return;
  }
  for (; empty_lines_ > 0; --empty_lines_) Emit("\r\n");
  line_ += "\r\n";
  Emit(line_);
  line_.clear();
  pending_space_ = false;
  any_line_ = true;
}

void BodyCanonicalizer::Add(absl::string_view bytes) {
  const bool relaxed = mode_ == Canonicalization::kRelaxed;
  // Runs of ordinary bytes are appended whole; only CR (and, relaxed, whitespace) is
  // looked at one byte at a time.
  auto ordinary = [relaxed](char c) { return c != '\r' && !(relaxed && IsWsp(c)); };
  size_t i = 0;
  while (i < bytes.size()) {
    const char c = bytes[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        EndLine();
        ++i;
        continue;
      }
      line_ += '\r';  // a CR not followed by LF is an ordinary byte (the receiver fixed those)
    }
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (!ordinary(c)) {
      pending_space_ = true;  // §3.4.4: a run becomes one space, none at the end of a line
      ++i;
      continue;
    }
    if (pending_space_) {
      line_ += ' ';
      pending_space_ = false;
    }
    size_t end = i + 1;
    while (end < bytes.size() && ordinary(bytes[end])) ++end;
    line_.append(bytes.data() + i, end - i);
    i = end;
  }
}

void BodyCanonicalizer::Finish() {
  if (pending_cr_) {
    line_ += '\r';
    pending_cr_ = false;
  }
  // A last line without CRLF gets one (§3.4.3, §3.4.4); trailing empty lines vanish.
  if (!line_.empty()) EndLine();
  // §3.4.3: an empty body is one CRLF under "simple"; §3.4.4: nothing under "relaxed".
  if (!any_line_ && mode_ == Canonicalization::kSimple) Emit("\r\n");
}

}  // namespace ringpost::net
