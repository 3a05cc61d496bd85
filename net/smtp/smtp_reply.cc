#include "net/smtp/smtp_reply.h"

#include "absl/strings/str_cat.h"

namespace ringpost::net {
namespace {
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

size_t DigitRun(absl::string_view s, size_t from, size_t max) {
  size_t n = 0;
  while (from + n < s.size() && n < max && IsDigit(s[from + n])) ++n;
  return n;
}
}  // namespace

std::string SmtpReply::Summary() const {
  std::string first_line(text.substr(0, text.find('\n')));
  if (enhanced.empty()) return absl::StrCat(code, " ", first_line);
  return absl::StrCat(code, " ", enhanced, " ", first_line);
}

size_t ParseEnhancedCode(absl::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return 0;
  }
  const size_t subject = DigitRun(text, 2, 3);
  if (subject == 0 || 2 + subject >= text.size() || text[2 + subject] != '.') return 0;
  const size_t detail = DigitRun(text, 3 + subject, 3);
  if (detail == 0) return 0;
  const size_t end = 3 + subject + detail;
  if (end < text.size() && text[end] != ' ') return 0;
  return end;
}

ReplyParser::Result ReplyParser::Fail(const char* why) {
  error_ = why;
  in_reply_ = false;
  return Result::kError;
}

ReplyParser::Result ReplyParser::OnLine(absl::string_view line) {
  if (!in_reply_) {
    reply_ = SmtpReply();
    in_reply_ = true;
  }
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2]) || line[0] < '2' ||
      line[0] > '5') {
    return Fail("reply line without a 3-digit code");
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return Fail("bad separator after the code");
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (reply_.lines > 0 && code != reply_.code) return Fail("code changed inside a multi-line reply");
  if (++reply_.lines > kLinesMax) return Fail("reply has too many lines");
  reply_.code = code;
  absl::string_view text = line.size() > 4 ? line.substr(4) : absl::string_view();
  const size_t enhanced = ParseEnhancedCode(text);
  if (enhanced > 0) {
    if (reply_.lines == 1) reply_.enhanced = std::string(text.substr(0, enhanced));
    text.remove_prefix(std::min(text.size(), enhanced + 1));
  }
  // Keep whole lines while they fit; past the bound only count lines.
  const size_t separator = reply_.lines > 1 ? 1 : 0;
  if (!reply_.text_truncated && reply_.text.size() + separator + text.size() <= kTextBytesMax) {
    if (separator) reply_.text.push_back('\n');
    reply_.text.append(text.data(), text.size());
  } else {
    reply_.text_truncated = true;
  }
  const bool last = line.size() == 3 || line[3] == ' ';
  if (!last) return Result::kNeedMore;
  in_reply_ = false;
  return Result::kReply;
}

}  // namespace ringpost::net
