#include "net/dkim/header_fields.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace ringpost::net {

void HeaderSectionReader::Reset() {
  section_.clear();
  line_start_ = 0;
  ended_ = false;
  overflowed_ = false;
}

size_t HeaderSectionReader::Feed(absl::string_view bytes) {
  size_t taken = 0;
  while (!ended_ && taken < bytes.size()) {
    const absl::string_view rest = bytes.substr(taken);
    const size_t lf = rest.find('\n');
    size_t take = lf == absl::string_view::npos ? rest.size() : lf + 1;
    if (section_.size() + take > kHeaderSectionBytesMax) {
      take = kHeaderSectionBytesMax - section_.size();
      overflowed_ = ended_ = true;
    }
    section_.append(rest.data(), take);
    taken += take;
    if (!ended_ && lf != absl::string_view::npos) {
      const absl::string_view line = absl::string_view(section_).substr(line_start_);
      if (line == "\r\n" || line == "\n") ended_ = true;
      line_start_ = section_.size();
    }
  }
  return taken;
}

std::vector<absl::string_view> SplitHeaderFields(absl::string_view section, size_t* complete_bytes) {
  std::vector<absl::string_view> fields;
  size_t field_start = 0, at = 0, complete = 0;
  bool in_field = false;
  while (at < section.size()) {
    const size_t lf = section.find('\n', at);
    if (lf == absl::string_view::npos) break;  // a partial line: its field is not complete
    const absl::string_view line = section.substr(at, lf + 1 - at);
    const bool continuation = line[0] == ' ' || line[0] == '\t';
    if (!continuation) {
      if (in_field) fields.push_back(section.substr(field_start, at - field_start));
      complete = at;
      in_field = false;
      if (line == "\r\n" || line == "\n") {
        complete = lf + 1;
        break;
      }
      field_start = at;
      in_field = true;
    }
    at = lf + 1;
  }
  if (complete_bytes != nullptr) *complete_bytes = complete;
  return fields;
}

std::string FromDomain(absl::string_view field) {
  const size_t colon = field.find(':');
  if (colon == absl::string_view::npos) return "";
  absl::string_view value = field.substr(colon + 1);
  // A group or list of mailboxes: the first one. Display names may hold commas only
  // inside quotes, which this does not look into; the angle address wins when present.
  const size_t open = value.find('<');
  if (open != absl::string_view::npos) {
    const size_t close = value.find('>', open);
    value =
        value.substr(open + 1, close == absl::string_view::npos ? absl::string_view::npos : close - open - 1);
  } else {
    value = value.substr(0, value.find(','));
  }
  const size_t at = value.rfind('@');
  if (at == absl::string_view::npos) return "";
  std::string domain;
  for (char c : value.substr(at + 1)) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == ';') break;
    domain += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  while (!domain.empty() && domain.back() == '.') domain.pop_back();
  const bool valid =
      !domain.empty() && domain.size() <= 253 && std::all_of(domain.begin(), domain.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
      });
  return valid ? domain : "";
}

}  // namespace ringpost::net
