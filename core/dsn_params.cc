#include "core/dsn_params.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ringpost::core {
namespace {

bool IsUpperHex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) { return c <= '9' ? c - '0' : c - 'A' + 10; }

// RFC 3461 §4.2: addr-type is an atom (RFC 5322 atext).
bool IsAddrType(absl::string_view type) {
  if (type.empty() || type.size() > 32) return false;
  for (char c : type) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

}  // namespace

bool IsXtext(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '+') {
      if (i + 2 >= text.size() || !IsUpperHex(text[i + 1]) || !IsUpperHex(text[i + 2])) return false;
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return false;
    }
  }
  return true;
}

std::string EncodeXtext(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string DecodeXtext(absl::string_view xtext) {
  std::string out;
  for (size_t i = 0; i < xtext.size(); ++i) {
    if (xtext[i] == '+' && i + 2 < xtext.size() && IsUpperHex(xtext[i + 1]) && IsUpperHex(xtext[i + 2])) {
      const int value = HexValue(xtext[i + 1]) * 16 + HexValue(xtext[i + 2]);
      out += value < 0x20 || value > 0x7e ? '?' : static_cast<char>(value);
      i += 2;
    } else {
      out += xtext[i];
    }
  }
  return out;
}

absl::Status ParseNotify(absl::string_view value, uint8_t* notify) {
  const absl::Status bad = absl::InvalidArgumentError("NOTIFY is NEVER, or any of SUCCESS, FAILURE, DELAY");
  *notify = 0;
  for (absl::string_view word : absl::StrSplit(value, ',')) {
    uint8_t bit = 0;
    if (absl::EqualsIgnoreCase(word, "NEVER")) bit = kNotifyNever;
    if (absl::EqualsIgnoreCase(word, "SUCCESS")) bit = kNotifySuccess;
    if (absl::EqualsIgnoreCase(word, "FAILURE")) bit = kNotifyFailure;
    if (absl::EqualsIgnoreCase(word, "DELAY")) bit = kNotifyDelay;
    if (bit == 0 || (*notify & bit) != 0) return bad;
    *notify |= bit;
  }
  // §4.1: NEVER stands alone.
  if ((*notify & kNotifyNever) != 0 && *notify != kNotifyNever) return bad;
  return absl::OkStatus();
}

absl::Status ParseRet(absl::string_view value, DsnReturn* ret) {
  if (absl::EqualsIgnoreCase(value, "FULL")) {
    *ret = DsnReturn::kFull;
  } else if (absl::EqualsIgnoreCase(value, "HDRS")) {
    *ret = DsnReturn::kHeaders;
  } else {
    return absl::InvalidArgumentError("RET is FULL or HDRS");
  }
  return absl::OkStatus();
}

absl::Status CheckEnvid(absl::string_view value) {
  if (value.empty() || value.size() > kEnvidCharsMax || !IsXtext(value)) {
    return absl::InvalidArgumentError("ENVID is xtext of at most 100 characters");
  }
  return absl::OkStatus();
}

absl::Status CheckOrcpt(absl::string_view value) {
  const size_t semicolon = value.find(';');
  if (value.size() > kOrcptCharsMax || semicolon == absl::string_view::npos ||
      !IsAddrType(value.substr(0, semicolon)) || semicolon + 1 == value.size() ||
      !IsXtext(value.substr(semicolon + 1))) {
    return absl::InvalidArgumentError(
        "ORCPT is addr-type;xtext (rfc822;user@example.org), at most 500 characters");
  }
  return absl::OkStatus();
}

std::string DsnMessageParams::ForMail() const {
  std::string out;
  if (ret == DsnReturn::kFull) out = " RET=FULL";
  if (ret == DsnReturn::kHeaders) out = " RET=HDRS";
  if (!envid.empty()) absl::StrAppend(&out, " ENVID=", envid);
  return out;
}

std::string DsnRecipientParams::ForRcpt() const {
  std::vector<absl::string_view> words;
  if (notify & kNotifyNever) words.push_back("NEVER");
  if (notify & kNotifySuccess) words.push_back("SUCCESS");
  if (notify & kNotifyFailure) words.push_back("FAILURE");
  if (notify & kNotifyDelay) words.push_back("DELAY");
  std::string out;
  if (!words.empty()) absl::StrAppend(&out, " NOTIFY=", absl::StrJoin(words, ","));
  if (!orcpt.empty()) absl::StrAppend(&out, " ORCPT=", orcpt);
  return out;
}

std::string DsnRecipientParams::OriginalRecipient() const {
  const size_t semicolon = orcpt.find(';');
  if (semicolon == std::string::npos) return "";
  return absl::StrCat(orcpt.substr(0, semicolon), "; ",
                      DecodeXtext(absl::string_view(orcpt).substr(semicolon + 1)));
}

namespace {

// Calls `take(key, value)` for every "KEY=VALUE" word of stored parameter text.
template <typename F>
void ForEachParam(absl::string_view text, F take) {
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    const size_t equals = word.find('=');
    if (equals != absl::string_view::npos) take(word.substr(0, equals), word.substr(equals + 1));
  }
}

}  // namespace

DsnMessageParams DsnMessageParamsOf(absl::string_view mail_params) {
  DsnMessageParams params;
  ForEachParam(mail_params, [&](absl::string_view key, absl::string_view value) {
    DsnReturn ret;
    if (absl::EqualsIgnoreCase(key, "RET") && ParseRet(value, &ret).ok()) params.ret = ret;
    if (absl::EqualsIgnoreCase(key, "ENVID") && CheckEnvid(value).ok()) params.envid = std::string(value);
  });
  return params;
}

DsnRecipientParams DsnRecipientParamsOf(absl::string_view rcpt_params) {
  DsnRecipientParams params;
  ForEachParam(rcpt_params, [&](absl::string_view key, absl::string_view value) {
    uint8_t notify = 0;
    if (absl::EqualsIgnoreCase(key, "NOTIFY") && ParseNotify(value, &notify).ok()) params.notify = notify;
    if (absl::EqualsIgnoreCase(key, "ORCPT") && CheckOrcpt(value).ok()) params.orcpt = std::string(value);
  });
  return params;
}

}  // namespace ringpost::core
