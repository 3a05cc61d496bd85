// Delivery status notification parameters (RFC 3461): RET and ENVID on MAIL, NOTIFY and
// ORCPT on RCPT. The server engine checks them as they arrive; the message keeps them
// as received (the ESMTP parameter text in its commit record); delivery reads them back
// to pass them on and to decide which reports a recipient gets.
//
// Pure and bounded: ENVID at most 100 characters, ORCPT at most 500 (RFC 3461 §4.2,
// §4.4), xtext checked (§4: "+" and two upper-case hex digits, or a printable ASCII
// character other than "+" and "=").
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ringpost::core {

// NOTIFY: a set of these; 0 when the parameter was absent (then a failure is
// reported, and a delay may be).
enum DsnNotify : uint8_t {
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};

enum class DsnReturn : uint8_t { kUnset, kFull, kHeaders };

inline constexpr size_t kEnvidCharsMax = 100;
inline constexpr size_t kOrcptCharsMax = 500;

// Each checks one parameter's value; the error says what is expected (for a 501).
absl::Status ParseNotify(absl::string_view value, uint8_t* notify);
absl::Status ParseRet(absl::string_view value, DsnReturn* ret);
absl::Status CheckEnvid(absl::string_view value);
absl::Status CheckOrcpt(absl::string_view value);  // "addr-type;xtext"

bool IsXtext(absl::string_view text);
// Any text as xtext: "+" and "=" and bytes outside 33..126 become "+XX".
std::string EncodeXtext(absl::string_view text);
// "a+2Bb" → "a+b". Only for checked xtext; characters under 0x20 or over 0x7e that an
// encoding names come out as '?', so a decoded value is safe in a header field.
std::string DecodeXtext(absl::string_view xtext);

// What a message or a recipient carries, read back from its stored parameter text
// ("SIZE=10 RET=HDRS ENVID=x", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b"). Parameters
// that do not parse (never stored by this server) are ignored.
struct DsnMessageParams {
  DsnReturn ret = DsnReturn::kUnset;
  std::string envid;  // xtext as received; empty: none
  // " RET=HDRS ENVID=x" for a next hop that offers DSN, "" when there is nothing.
  std::string ForMail() const;
};
struct DsnRecipientParams {
  uint8_t notify = 0;
  std::string orcpt;            // "rfc822;xtext" as received; empty: none
  std::string ForRcpt() const;  // " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b"
  bool NotifiesFailure() const { return notify == 0 || (notify & kNotifyFailure) != 0; }
  bool NotifiesDelay() const { return notify == 0 || (notify & kNotifyDelay) != 0; }
  bool NotifiesSuccess() const { return (notify & kNotifySuccess) != 0; }
  // "rfc822; user@example.org" for an Original-Recipient field (decoded), or "".
  std::string OriginalRecipient() const;
};
DsnMessageParams DsnMessageParamsOf(absl::string_view mail_params);
DsnRecipientParams DsnRecipientParamsOf(absl::string_view rcpt_params);

}  // namespace ringpost::core
