// SMTP command lines as a server reads them (RFC 5321 §4.1): the verb, and for MAIL
// and RCPT the path and ESMTP parameters (§4.1.2).
//
// Pure functions over one line (already split and bounded by a LineAssembler).
// Bounded: paths of at most 256 octets (local part 64, domain 255; §4.5.3.1), at most
// 16 parameters. Source routes ("<@a,@b:user@c>") are accepted and stripped (§4.1.2,
// Appendix C); '%' and '!' are only characters, never routing. Non-ASCII is parsed
// (SMTPUTF8, RFC 6531) and reported, so the session can demand the SMTPUTF8 parameter.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

enum class SmtpVerb {
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,
  kAuth,
  kUnknown,
};

struct SmtpCommand {
  SmtpVerb verb = SmtpVerb::kUnknown;
  absl::string_view verb_text;  // as sent
  absl::string_view argument;   // after the verb and its space; empty when none
};

// Never fails: an unknown verb is kUnknown (the session answers 500 5.5.1).
SmtpCommand ParseCommand(absl::string_view line);

inline constexpr size_t kPathBytesMax = 256;
inline constexpr size_t kLocalPartBytesMax = 64;
inline constexpr size_t kDomainBytesMax = 255;
inline constexpr size_t kEsmtpParamsMax = 16;

struct EsmtpParam {
  std::string keyword;  // upper-cased
  std::string value;    // empty when there was no "="
  bool has_value = false;
};

struct MailPath {
  std::string mailbox;         // "local@domain", empty for the null path "<>"
  size_t at = 0;               // position of the '@' separating local part and domain
  bool is_null = false;        // "<>" (MAIL only)
  bool is_postmaster = false;  // RCPT TO:<Postmaster> without a domain (§4.5.1)
  bool non_ascii = false;      // needs SMTPUTF8
  absl::string_view local_part() const { return absl::string_view(mailbox).substr(0, at); }
  absl::string_view domain() const {
    return is_null || is_postmaster ? absl::string_view() : absl::string_view(mailbox).substr(at + 1);
  }
};

struct PathArgument {
  MailPath path;
  std::vector<EsmtpParam> params;
  const EsmtpParam* Find(absl::string_view keyword) const;
};

// How a path may be written. kAngleBrackets is RFC 5321's "<path>". kBareAllowed also
// takes one bare address ("FROM: user@example.org", as typed by hand into telnet), as
// Postfix does unless strict_rfc821_envelopes is set: the first word after the colon,
// which must be a whole valid mailbox (or "postmaster" for RCPT); no null path, no source
// route and no other relaxation in that form.
enum class PathSyntax { kAngleBrackets, kBareAllowed };

// "FROM:<path> [params]" (the argument of MAIL). Allows "<>".
absl::StatusOr<PathArgument> ParseMailFrom(absl::string_view argument,
                                           PathSyntax syntax = PathSyntax::kAngleBrackets);
// "TO:<path> [params]" (the argument of RCPT). Allows "<Postmaster>".
absl::StatusOr<PathArgument> ParseRcptTo(absl::string_view argument,
                                         PathSyntax syntax = PathSyntax::kAngleBrackets);

// The address syntax alone ("user@example.org", "\"odd user\"@[192.0.2.1]").
bool IsValidMailbox(absl::string_view mailbox, bool* non_ascii);

}  // namespace ringpost::net
