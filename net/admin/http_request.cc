#include "net/admin/http_request.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ringpost::net {
namespace {

// RFC 9110 §5.6.2.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> Unescape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
      continue;
    }
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    const int high = i + 1 < s.size() ? HexValue(s[i + 1]) : -1;
    const int low = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
    if (high < 0 || low < 0) return absl::InvalidArgumentError("a bad %-escape in the query string");
    const char c = static_cast<char>(high * 16 + low);
    if (c == '\0') return absl::InvalidArgumentError("a NUL in the query string");
    out.push_back(c);
    i += 2;
  }
  return out;
}

}  // namespace

HttpRequestReader::Result HttpRequestReader::Feed(absl::string_view bytes) {
  if (result_ != Result::kIncomplete) return result_;
  if (body_start_ == std::string::npos) {
    // Keep at most a head's worth until the head ends; the body follows.
    const size_t room = kHttpHeadBytesMax + kHttpBodyBytesMax - buffer_.size();
    buffer_.append(bytes.data(), std::min(bytes.size(), room));
    // The head ends at a blank line (CRLF CRLF; a bare LF is tolerated, RFC 9112 §2.2).
    const size_t crlf = buffer_.find("\r\n\r\n");
    const size_t lf = buffer_.find("\n\n");
    size_t end = std::string::npos;
    if (crlf != std::string::npos) end = crlf + 4;
    if (lf != std::string::npos && (end == std::string::npos || lf + 2 < end)) end = lf + 2;
    if (end == std::string::npos || end > kHttpHeadBytesMax) {
      if (buffer_.size() >= kHttpHeadBytesMax) result_ = Result::kTooLarge;
      return result_;
    }
    result_ = ParseHead(absl::string_view(buffer_).substr(0, end));
    if (result_ != Result::kOk) return result_;
    result_ = Result::kIncomplete;
    body_start_ = end;
  } else {
    const size_t want = body_start_ + content_length_;
    if (buffer_.size() < want) buffer_.append(bytes.data(), std::min(bytes.size(), want - buffer_.size()));
  }
  if (buffer_.size() - body_start_ < content_length_) return result_;
  body_ = buffer_.substr(body_start_, content_length_);
  buffer_.clear();
  buffer_.shrink_to_fit();
  result_ = Result::kOk;
  return result_;
}

HttpRequestReader::Result HttpRequestReader::ParseHead(absl::string_view head) {
  // RFC 9112 §3: method SP request-target SP HTTP-version.
  const size_t newline = head.find('\n');
  absl::string_view line = head.substr(0, newline);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t first = line.find(' ');
  const size_t second = first == absl::string_view::npos ? first : line.find(' ', first + 1);
  if (second == absl::string_view::npos) return Result::kBad;
  const absl::string_view method = line.substr(0, first);
  const absl::string_view target = line.substr(first + 1, second - first - 1);
  const absl::string_view version = line.substr(second + 1);
  if (method.empty() || method.size() > 16 ||
      !std::all_of(method.begin(), method.end(), [](char c) { return absl::ascii_isupper(c); })) {
    return Result::kBad;
  }
  if (target.size() > kHttpTargetBytesMax) return Result::kTooLarge;  // an over-long request line
  if (target.empty() || target.front() != '/' ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
    return Result::kBad;
  }
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return Result::kBad;
  const Result fields = ParseFields(head.substr(newline + 1));
  if (fields != Result::kOk) return fields;
  method_ = std::string(method);
  const size_t question = target.find('?');
  path_ = std::string(target.substr(0, question));
  query_ = question == absl::string_view::npos ? "" : std::string(target.substr(question + 1));
  return Result::kOk;
}

HttpRequestReader::Result HttpRequestReader::ParseFields(absl::string_view fields) {
  bool have_length = false;
  while (!fields.empty()) {
    const size_t newline = fields.find('\n');
    absl::string_view line = fields.substr(0, newline);
    fields.remove_prefix(newline == absl::string_view::npos ? fields.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the blank line that ends the head
    // RFC 9112 §5.2: obsolete line folding may be refused.
    if (line.front() == ' ' || line.front() == '\t') return Result::kBad;
    const size_t colon = line.find(':');
    if (colon == 0 || colon == absl::string_view::npos) return Result::kBad;
    const absl::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) return Result::kBad;
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      size_t length = 0;
      if (value.empty() || !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          value.size() > 9 || !absl::SimpleAtoi(value, &length) ||
          (have_length && length != content_length_)) {
        return Result::kBad;
      }
      if (length > kHttpBodyBytesMax) return Result::kBodyTooLarge;
      content_length_ = length;
      have_length = true;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      return Result::kBad;
    } else if (absl::EqualsIgnoreCase(name, "Authorization")) {
      authorization_ = std::string(value);
    }
  }
  return Result::kOk;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQueryString(absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const absl::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == absl::string_view::npos ? query.size() : amp + 1);
    if (pair.empty()) continue;
    const size_t equals = pair.find('=');
    auto name = Unescape(pair.substr(0, equals));
    if (!name.ok()) return name.status();
    auto value = Unescape(equals == absl::string_view::npos ? "" : pair.substr(equals + 1));
    if (!value.ok()) return value.status();
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

}  // namespace ringpost::net
