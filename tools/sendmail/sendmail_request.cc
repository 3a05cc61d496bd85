#include "tools/sendmail/sendmail_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "core/dsn_params.h"

namespace ringpost::sendmail {
namespace {

// Options that take a value (attached or as the next argument) and change nothing here.
constexpr absl::string_view kIgnoredWithValue = "BCLo";
// Options without a value that change nothing here.
constexpr absl::string_view kIgnoredFlags = "GUhnvX";

bool IsHeaderName(absl::string_view line, absl::string_view name) {
  if (line.size() <= name.size() || !absl::StartsWithIgnoreCase(line, name)) return false;
  absl::string_view rest = line.substr(name.size());
  rest = absl::StripLeadingAsciiWhitespace(rest);  // obsolete "Name :" (RFC 5322 §4.5)
  return !rest.empty() && rest.front() == ':';
}

// A control character in an address or a name would end the SMTP command or the
// header it goes into (CR, LF) or confuse the next reader.
bool HasControl(absl::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool IsContinuation(absl::string_view line) { return !line.empty() && (line[0] == ' ' || line[0] == '\t'); }

// Walks RFC 5322 address text (§3.2.2-§3.2.4) and calls `visit(piece, quoted)` for
// what lies outside comments: one character, or a backslash pair inside a quoted
// string; `quoted` is true for a quoted string's characters, its quotes included.
// Comments, nested or not, are skipped whole.
template <typename Visit>
void ScanAddressText(absl::string_view text, Visit visit) {
  bool quoted = false;
  int comment_depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool escaped_pair = (quoted || comment_depth > 0) && c == '\\' && i + 1 < text.size();
    if (comment_depth > 0) {
      if (escaped_pair) ++i;
      if (!escaped_pair && c == '(') ++comment_depth;
      if (!escaped_pair && c == ')') --comment_depth;
      continue;
    }
    if (!quoted && c == '(') {
      comment_depth = 1;
      continue;
    }
    if (c == '"' && !escaped_pair) {
      visit(text.substr(i, 1), true);
      quoted = !quoted;
      continue;
    }
    visit(text.substr(i, escaped_pair ? 2 : 1), quoted);
    if (escaped_pair) ++i;
  }
}

// The address of one list element: the angle-addr if there is one, else the element
// without comments and whitespace; a group's display name is dropped.
std::string ElementAddress(absl::string_view element) {
  std::string plain;  // the element without comments
  std::string angle;
  bool in_angle = false, saw_angle = false;
  ScanAddressText(element, [&](absl::string_view piece, bool quoted) {
    if (!quoted && piece == "<") {
      in_angle = saw_angle = true;
      angle.clear();
    } else if (!quoted && piece == ">" && in_angle) {
      in_angle = false;
    } else if (!quoted && !in_angle && piece == ":") {  // "group:" - what came before is its name
      plain.clear();
    } else {
      absl::StrAppend(in_angle ? &angle : &plain, piece);
    }
  });
  std::string address = saw_angle ? angle : plain;
  // A source route in an angle-addr ("<@a,@b:user@c>") is dropped (RFC 5322 §4.4).
  if (!address.empty() && address.front() == '@') {
    const size_t colon = address.find(':');
    address = colon == std::string::npos ? "" : address.substr(colon + 1);
  }
  return std::string(absl::StripAsciiWhitespace(address));
}

}  // namespace

absl::StatusOr<SendmailRequest> ParseSendmailArgs(const std::vector<std::string>& args) {
  SendmailRequest request;
  size_t i = 0;
  // The value of an option: attached ("-fme@x") or the next argument ("-f me@x").
  auto value_of = [&](const std::string& arg, size_t skip) -> absl::StatusOr<std::string> {
    if (arg.size() > skip) return arg.substr(skip);
    if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    return args[++i];
  };
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (absl::StartsWith(arg, "--server=")) {
      request.server = arg.substr(9);
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the recipients start here
    const char option = arg[1];
    if (option == 'f' || option == 'r') {
      auto value = value_of(arg, 2);
      if (!value.ok()) return value.status();
      request.sender = *value == "<>" ? "" : *value;
      if (absl::StartsWith(request.sender, "<") && absl::EndsWith(request.sender, ">")) {
        request.sender = request.sender.substr(1, request.sender.size() - 2);
      }
      request.sender_given = true;
    } else if (option == 'F') {
      auto value = value_of(arg, 2);
      if (!value.ok()) return value.status();
      request.full_name = *value;
    } else if (option == 'N' || option == 'R' || option == 'V') {
      auto value = value_of(arg, 2);
      if (!value.ok()) return value.status();
      if (option == 'N') {
        uint8_t notify = 0;
        if (absl::Status s = core::ParseNotify(*value, &notify); !s.ok()) return s;
        request.notify = absl::AsciiStrToUpper(*value);
      } else if (option == 'R') {
        core::DsnReturn ret;
        if (absl::Status s = core::ParseRet(*value, &ret); !s.ok()) return s;
        request.ret = absl::AsciiStrToUpper(*value);
      } else {
        request.envid = core::EncodeXtext(*value);
        if (absl::Status s = core::CheckEnvid(request.envid); !s.ok()) return s;
      }
    } else if (arg == "-t") {
      request.recipients_from_headers = true;
    } else if (arg == "-i" || arg == "-oi") {
      request.dot_ends_input = false;
    } else if (option == 'b') {
      if (arg != "-bm") {
        return absl::InvalidArgumentError(
            absl::StrCat(arg, ": only -bm (read a message, deliver it) is supported"));
      }
    } else if (kIgnoredWithValue.find(option) != absl::string_view::npos) {
      if (option != 'o') {  // -oX options carry their value attached
        auto value = value_of(arg, 2);
        if (!value.ok()) return value.status();
      }
    } else if (arg.size() == 2 && kIgnoredFlags.find(option) != absl::string_view::npos) {
      // accepted, nothing to do
    } else {
      return absl::InvalidArgumentError(absl::StrCat(arg, ": unknown option"));
    }
  }
  for (; i < args.size(); ++i) {
    for (std::string& address : ParseAddressList(args[i])) request.recipients.push_back(std::move(address));
  }
  if (HasControl(request.sender) || HasControl(request.full_name)) {
    return absl::InvalidArgumentError("a control character in -f or -F");
  }
  for (const std::string& recipient : request.recipients) {
    if (HasControl(recipient)) return absl::InvalidArgumentError("a control character in a recipient");
  }
  if (request.recipients.size() > kRecipientsMax) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kRecipientsMax, " recipients"));
  }
  return request;
}

std::vector<std::string> ParseAddressList(absl::string_view value) {
  std::vector<std::string> addresses;
  size_t start = 0;
  bool in_angle = false;
  auto take = [&](size_t end) {
    std::string address = ElementAddress(value.substr(start, end - start));
    if (!address.empty()) addresses.push_back(std::move(address));
    start = end + 1;
  };
  ScanAddressText(value, [&](absl::string_view piece, bool quoted) {
    if (quoted) return;
    if (piece == "<") in_angle = true;
    if (piece == ">") in_angle = false;
    if ((piece == "," || piece == ";") && !in_angle) take(static_cast<size_t>(piece.data() - value.data()));
  });
  take(value.size());
  return addresses;
}

absl::StatusOr<PreparedMessage> PrepareMessage(absl::string_view input, const SendmailRequest& request,
                                               absl::string_view sender) {
  if (input.size() > kMessageBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("the message is over ", kMessageBytesMax, " bytes"));
  }
  PreparedMessage prepared;
  bool in_headers = true, has_from = false, in_bcc = false;
  bool in_recipient_field = false;  // reading a To/Cc/Bcc field, with -t
  std::string recipient_field;      // its value so far, unfolded
  auto take_recipients = [&] {
    if (!in_recipient_field) return;
    for (std::string& a : ParseAddressList(recipient_field))
      prepared.header_recipients.push_back(std::move(a));
    recipient_field.clear();
    in_recipient_field = false;
  };
  std::string headers, body;
  while (!input.empty()) {
    const size_t lf = input.find('\n');
    absl::string_view line = input.substr(0, lf);
    input.remove_prefix(lf == absl::string_view::npos ? input.size() : lf + 1);
    if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
    if (request.dot_ends_input && line == ".") break;
    std::string without_bare_cr;
    if (line.find('\r') != absl::string_view::npos) {  // RFC 5322 §2.3: no CR outside CRLF
      without_bare_cr = absl::StrReplaceAll(line, {{"\r", ""}});
      line = without_bare_cr;
    }
    for (unsigned char c : line) prepared.eight_bit |= c > 127;
    if (!in_headers) {
      absl::StrAppend(&body, line, "\r\n");
      continue;
    }
    if (line.empty()) {
      in_headers = false;
      take_recipients();
      absl::StrAppend(&body, "\r\n");
      continue;
    }
    if (IsContinuation(line)) {
      if (in_recipient_field) absl::StrAppend(&recipient_field, " ", line);
      if (!in_bcc) absl::StrAppend(&headers, line, "\r\n");
      continue;
    }
    take_recipients();
    in_bcc = IsHeaderName(line, "bcc");
    has_from |= IsHeaderName(line, "from");
    if (request.recipients_from_headers && (IsHeaderName(line, "to") || IsHeaderName(line, "cc") || in_bcc)) {
      in_recipient_field = true;
      recipient_field = std::string(line.substr(line.find(':') + 1));
    }
    if (!in_bcc) absl::StrAppend(&headers, line, "\r\n");
  }
  take_recipients();
  if (prepared.header_recipients.size() > kRecipientsMax) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kRecipientsMax, " recipients"));
  }
  for (const std::string& recipient : prepared.header_recipients) {
    if (HasControl(recipient)) return absl::InvalidArgumentError("a control character in a recipient header");
  }
  if (!has_from && !sender.empty()) {
    const std::string from =
        request.full_name.empty()
            ? std::string(sender)
            : absl::StrCat("\"", absl::StrReplaceAll(request.full_name, {{"\\", "\\\\"}, {"\"", "\\\""}}),
                           "\" <", sender, ">");
    headers = absl::StrCat("From: ", from, "\r\n", headers);
  }
  prepared.data = absl::StrCat(headers, body);
  return prepared;
}

}  // namespace ringpost::sendmail
