#include "queue/schedule/reply_pattern.h"

#include <re2/re2.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ringpost::queue {
namespace {

bool IsCodePattern(absl::string_view code) {
  if (code == "*") return true;
  const bool prefix = absl::EndsWith(code, "*");
  const absl::string_view digits = prefix ? code.substr(0, code.size() - 1) : code;
  if (digits.empty() || digits.size() > 3 || (!prefix && digits.size() != 3)) return false;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsStatusPattern(absl::string_view status) {
  if (status == "*") return true;
  const std::vector<absl::string_view> parts = absl::StrSplit(status, '.');
  if (parts.size() != 3) return false;
  for (absl::string_view part : parts) {
    if (part == "*") continue;
    if (part.empty() || part.size() > 3) return false;
    for (char c : part) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    }
  }
  return true;
}

}  // namespace

ReplyPattern::Reply::Reply(int code, absl::string_view status, absl::string_view text)
    : digits_(code >= 100 && code <= 999 ? absl::StrCat(code) : ""), text_(text) {
  if (!status.empty()) status_ = absl::StrSplit(status, '.');
}

absl::StatusOr<ReplyPattern> ReplyPattern::Parse(absl::string_view code, absl::string_view status,
                                                 absl::string_view text) {
  ReplyPattern pattern;
  if (!IsCodePattern(code)) {
    return absl::InvalidArgumentError(absl::StrCat("'", code, "' is not a reply code (550, 5*, *)"));
  }
  if (code != "*") {
    pattern.code_is_prefix_ = absl::EndsWith(code, "*");
    pattern.code_ = std::string(absl::StripSuffix(code, "*"));
  }
  if (!IsStatusPattern(status)) {
    return absl::InvalidArgumentError(absl::StrCat("'", status, "' is not a status code (5.1.1, *.7.28, *)"));
  }
  if (status != "*") pattern.status_ = absl::StrSplit(status, '.');
  text = absl::StripAsciiWhitespace(text);
  if (!text.empty()) {
    if (text.size() > kTextBytesMax) return absl::InvalidArgumentError("a text pattern over 4 KiB");
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_log_errors(false);
    auto compiled = std::make_shared<const RE2>(re2::StringPiece(text.data(), text.size()), options);
    if (!compiled->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid regular expression '", text, "': ", compiled->error()));
    }
    pattern.text_ = std::move(compiled);
  }
  return pattern;
}

bool ReplyPattern::Matches(const Reply& reply) const {
  if (!code_.empty()) {
    const bool code_matches = code_is_prefix_
                                  ? !reply.digits_.empty() && absl::StartsWith(reply.digits_, code_)
                                  : reply.digits_ == code_;
    if (!code_matches) return false;
  }
  if (!status_.empty()) {
    if (reply.status_.size() != 3) return false;
    for (size_t i = 0; i < 3; ++i) {
      if (status_[i] != "*" && status_[i] != reply.status_[i]) return false;
    }
  }
  return text_ == nullptr ||
         RE2::PartialMatch(re2::StringPiece(reply.text_.data(), reply.text_.size()), *text_);
}

}  // namespace ringpost::queue
