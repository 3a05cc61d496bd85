#include "net/smtp/smtp_command.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ringpost::net {
namespace {

struct VerbName {
  const char* name;
  SmtpVerb verb;
};
constexpr VerbName kVerbs[] = {
    {"HELO", SmtpVerb::kHelo},         {"EHLO", SmtpVerb::kEhlo}, {"MAIL", SmtpVerb::kMail},
    {"RCPT", SmtpVerb::kRcpt},         {"DATA", SmtpVerb::kData}, {"BDAT", SmtpVerb::kBdat},
    {"RSET", SmtpVerb::kRset},         {"NOOP", SmtpVerb::kNoop}, {"QUIT", SmtpVerb::kQuit},
    {"VRFY", SmtpVerb::kVrfy},         {"EXPN", SmtpVerb::kExpn}, {"HELP", SmtpVerb::kHelp},
    {"STARTTLS", SmtpVerb::kStartTls}, {"AUTH", SmtpVerb::kAuth},
};

bool IsAlpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsUtf8(unsigned char c) { return c >= 0x80; }

// RFC 5322 atext, plus UTF-8 (RFC 6531 §3.3).
bool IsAtext(unsigned char c) {
  if (IsAlpha(c) || IsDigit(c) || IsUtf8(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool ValidDotString(absl::string_view s, bool* non_ascii) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char previous = 0;
  for (unsigned char c : s) {
    if (c == '.') {
      if (previous == '.') return false;
    } else if (!IsAtext(c)) {
      return false;
    }
    if (IsUtf8(c)) *non_ascii = true;
    previous = static_cast<char>(c);
  }
  return true;
}

bool ValidQuotedString(absl::string_view s, bool* non_ascii) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;  // the escape must precede the closing quote
      const unsigned char escaped = static_cast<unsigned char>(s[++i]);
      if (escaped < 32 || escaped > 126) return false;
    } else if (IsUtf8(c)) {
      *non_ascii = true;
    } else if (c < 32 || c == '"' || c > 126) {
      return false;
    }
  }
  return true;
}

bool ValidDomain(absl::string_view d, bool* non_ascii) {
  if (d.empty() || d.size() > kDomainBytesMax) return false;
  size_t label_start = 0;
  for (size_t i = 0; i <= d.size(); ++i) {
    if (i < d.size() && d[i] != '.') continue;
    absl::string_view label = d.substr(label_start, i - label_start);
    if (label.empty() || label.size() > 63) return false;
    for (unsigned char c : label) {
      if (IsUtf8(c)) {
        *non_ascii = true;
      } else if (!IsAlpha(c) && !IsDigit(c) && c != '-') {
        return false;
      }
    }
    if (label.front() == '-' || label.back() == '-') return false;
    label_start = i + 1;
  }
  return true;
}

bool ValidAddressLiteral(absl::string_view d) {
  if (d.size() < 3 || d.front() != '[' || d.back() != ']') return false;
  std::string inner(d.substr(1, d.size() - 2));
  unsigned char buffer[16];
  if (absl::StartsWithIgnoreCase(inner, "IPv6:")) {
    return inet_pton(AF_INET6, inner.c_str() + 5, buffer) == 1;
  }
  if (inet_pton(AF_INET, inner.c_str(), buffer) == 1) return true;
  // General-address-literal: Standardized-tag ":" 1*dcontent (§4.1.3).
  const size_t colon = inner.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == inner.size()) return false;
  for (size_t i = 0; i < inner.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(inner[i]);
    if (i < colon ? !(IsAlpha(c) || IsDigit(c) || c == '-')
                  : (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')) {
      return false;
    }
  }
  return true;
}

// Finds the '@' that separates local part and domain: the last one outside quotes.
size_t FindDomainAt(absl::string_view mailbox) {
  bool quoted = false;
  size_t at = absl::string_view::npos;
  for (size_t i = 0; i < mailbox.size(); ++i) {
    const char c = mailbox[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '@' && !quoted) {
      at = i;
    }
  }
  return at;
}

absl::Status ParseParams(absl::string_view text, std::vector<EsmtpParam>* params) {
  while (!text.empty()) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    if (text.empty()) break;
    const size_t end = std::min(text.find(' '), text.size());
    absl::string_view word = text.substr(0, end);
    text.remove_prefix(end);
    if (params->size() == kEsmtpParamsMax) return absl::InvalidArgumentError("too many parameters");
    EsmtpParam param;
    const size_t equals = word.find('=');
    absl::string_view keyword = word.substr(0, equals);
    if (keyword.empty() || !(IsAlpha(keyword[0]) || IsDigit(keyword[0]))) {
      return absl::InvalidArgumentError("bad parameter keyword");
    }
    for (unsigned char c : keyword) {
      if (!IsAlpha(c) && !IsDigit(c) && c != '-') return absl::InvalidArgumentError("bad parameter keyword");
    }
    param.keyword = absl::AsciiStrToUpper(keyword);
    if (equals != absl::string_view::npos) {
      param.has_value = true;
      param.value = std::string(word.substr(equals + 1));
      if (param.value.empty()) return absl::InvalidArgumentError("empty parameter value");
      for (unsigned char c : param.value) {
        if (c < 33 || c == '=' || c == 127) return absl::InvalidArgumentError("bad parameter value");
      }
    }
    params->push_back(std::move(param));
  }
  return absl::OkStatus();
}

// A bare address ("user@example.org [params]"): the first word, a whole mailbox.
absl::StatusOr<PathArgument> ParseBarePath(absl::string_view argument, bool allow_postmaster) {
  const size_t end = std::min(argument.find(' '), argument.size());
  absl::string_view path = argument.substr(0, end);
  if (path.size() + 2 > kPathBytesMax) return absl::InvalidArgumentError("path too long");
  PathArgument result;
  if (absl::Status s = ParseParams(argument.substr(end), &result.params); !s.ok()) return s;
  if (allow_postmaster && absl::EqualsIgnoreCase(path, "postmaster")) {
    result.path.is_postmaster = true;
    result.path.mailbox = std::string(path);
    result.path.at = path.size();
    return result;
  }
  bool non_ascii = false;
  if (!IsValidMailbox(path, &non_ascii)) return absl::InvalidArgumentError("bad address syntax");
  result.path.mailbox = std::string(path);
  result.path.at = FindDomainAt(path);
  result.path.non_ascii = non_ascii;
  return result;
}

absl::StatusOr<PathArgument> ParsePathArgument(absl::string_view argument, absl::string_view prefix,
                                               bool allow_null, bool allow_postmaster, PathSyntax syntax) {
  if (!absl::StartsWithIgnoreCase(argument, prefix)) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", prefix, "<address>"));
  }
  argument.remove_prefix(prefix.size());
  while (!argument.empty() && argument.front() == ' ') argument.remove_prefix(1);  // lenient, as most MTAs
  if (argument.empty()) return absl::InvalidArgumentError("no address");
  if (argument.front() != '<') {
    if (syntax == PathSyntax::kBareAllowed) return ParseBarePath(argument, allow_postmaster);
    return absl::InvalidArgumentError("the path must be in <>");
  }
  // The closing '>' is the first one outside a quoted string.
  size_t close = absl::string_view::npos;
  bool quoted = false;
  for (size_t i = 1; i < argument.size(); ++i) {
    const char c = argument[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '>' && !quoted) {
      close = i;
      break;
    }
  }
  if (close == absl::string_view::npos) return absl::InvalidArgumentError("no closing >");
  if (close + 1 > kPathBytesMax) return absl::InvalidArgumentError("path too long");
  absl::string_view path = argument.substr(1, close - 1);
  absl::string_view rest = argument.substr(close + 1);
  if (!rest.empty() && rest.front() != ' ') return absl::InvalidArgumentError("junk after the path");
  PathArgument result;
  if (absl::Status s = ParseParams(rest, &result.params); !s.ok()) return s;
  if (path.empty()) {
    if (!allow_null) return absl::InvalidArgumentError("the null path is only for MAIL");
    result.path.is_null = true;
    return result;
  }
  if (path.front() == '@') {
    // A source route (§4.1.2, Appendix C): validate and strip it.
    const size_t colon = path.find(':');
    if (colon == absl::string_view::npos) return absl::InvalidArgumentError("bad source route");
    absl::string_view route = path.substr(0, colon);
    size_t start = 0;
    while (start < route.size()) {
      const size_t comma = std::min(route.find(',', start), route.size());
      absl::string_view hop = route.substr(start, comma - start);
      bool ignored = false;
      if (hop.size() < 2 || hop[0] != '@' || !ValidDomain(hop.substr(1), &ignored)) {
        return absl::InvalidArgumentError("bad source route");
      }
      start = comma + 1;
    }
    path.remove_prefix(colon + 1);
  }
  bool non_ascii = false;
  if (allow_postmaster && absl::EqualsIgnoreCase(path, "postmaster")) {
    result.path.is_postmaster = true;
    result.path.mailbox = std::string(path);
    result.path.at = path.size();
    return result;
  }
  if (!IsValidMailbox(path, &non_ascii)) return absl::InvalidArgumentError("bad address syntax");
  result.path.mailbox = std::string(path);
  result.path.at = FindDomainAt(path);
  result.path.non_ascii = non_ascii;
  return result;
}

}  // namespace

SmtpCommand ParseCommand(absl::string_view line) {
  SmtpCommand command;
  const size_t space = line.find(' ');
  command.verb_text = line.substr(0, space);
  if (space != absl::string_view::npos) command.argument = line.substr(space + 1);
  for (const VerbName& v : kVerbs) {
    if (absl::EqualsIgnoreCase(command.verb_text, v.name)) {
      command.verb = v.verb;
      break;
    }
  }
  return command;
}

bool IsValidMailbox(absl::string_view mailbox, bool* non_ascii) {
  const size_t at = FindDomainAt(mailbox);
  if (at == absl::string_view::npos || at == 0 || at + 1 >= mailbox.size()) return false;
  absl::string_view local = mailbox.substr(0, at);
  absl::string_view domain = mailbox.substr(at + 1);
  if (local.size() > kLocalPartBytesMax) return false;
  const bool local_ok =
      local.front() == '"' ? ValidQuotedString(local, non_ascii) : ValidDotString(local, non_ascii);
  if (!local_ok) return false;
  return domain.front() == '[' ? ValidAddressLiteral(domain) : ValidDomain(domain, non_ascii);
}

const EsmtpParam* PathArgument::Find(absl::string_view keyword) const {
  for (const EsmtpParam& p : params) {
    if (absl::EqualsIgnoreCase(p.keyword, keyword)) return &p;
  }
  return nullptr;
}

absl::StatusOr<PathArgument> ParseMailFrom(absl::string_view argument, PathSyntax syntax) {
  return ParsePathArgument(argument, "FROM:", /*allow_null=*/true, /*allow_postmaster=*/false, syntax);
}

absl::StatusOr<PathArgument> ParseRcptTo(absl::string_view argument, PathSyntax syntax) {
  return ParsePathArgument(argument, "TO:", /*allow_null=*/false, /*allow_postmaster=*/true, syntax);
}

}  // namespace ringpost::net
