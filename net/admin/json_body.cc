#include "net/admin/json_body.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/utf8.h"

namespace ringpost::net {
namespace {

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Object() {
    std::vector<std::pair<std::string, std::string>> fields;
    Space();
    if (!Take('{')) return Error("a JSON object");
    Space();
    if (Take('}')) return End(std::move(fields));
    for (;;) {
      Space();
      auto key = String();
      if (!key.ok()) return key.status();
      for (const auto& [name, value] : fields) {
        if (name == *key) return Error(absl::StrCat("one \"", *key, "\""));
      }
      Space();
      if (!Take(':')) return Error("':'");
      Space();
      auto value = Value();
      if (!value.ok()) return value.status();
      if (fields.size() == kJsonFieldsMax) return Error(absl::StrCat("at most ", kJsonFieldsMax, " fields"));
      if (!null_) fields.emplace_back(std::move(*key), std::move(*value));
      Space();
      if (Take('}')) return End(std::move(fields));
      if (!Take(',')) return Error("',' or '}'");
    }
  }

 private:
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> End(
      std::vector<std::pair<std::string, std::string>> fields) {
    Space();
    if (at_ != text_.size()) return Error("nothing after the object");
    return fields;
  }

  absl::StatusOr<std::string> Value() {
    null_ = false;
    if (at_ >= text_.size()) return Error("a value");
    const char c = text_[at_];
    if (c == '"') return String();
    if (Word("true")) return std::string("true");
    if (Word("false")) return std::string("false");
    if (Word("null")) {
      null_ = true;
      return std::string();
    }
    if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) return Number();
    return Error("a string, number, boolean or null (nothing nested)");
  }

  // RFC 8259 §6: -? int frac? exp?
  absl::StatusOr<std::string> Number() {
    const size_t start = at_;
    Take('-');
    if (Take('0')) {
    } else if (!Digits()) {
      return Error("a number");
    }
    if (Take('.') && !Digits()) return Error("digits after '.'");
    if (Take('e') || Take('E')) {
      if (!Take('+')) Take('-');
      if (!Digits()) return Error("an exponent");
    }
    return std::string(text_.substr(start, at_ - start));
  }

  absl::StatusOr<std::string> String() {
    if (!Take('"')) return Error("a string");
    std::string out;
    for (;;) {
      if (at_ >= text_.size()) return Error("the end of a string");
      const unsigned char c = static_cast<unsigned char>(text_[at_++]);
      if (c == '"') return out;
      if (c < 0x20) return Error("no control character inside a string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (at_ >= text_.size()) return Error("an escape");
      const char e = text_[at_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          int code = Hex4();
          if (code < 0) return Error("four hex digits after \\u");
          if (code >= 0xDC00 && code <= 0xDFFF) return Error("no lone surrogate");
          if (code >= 0xD800 && code <= 0xDBFF) {
            if (!Take('\\') || !Take('u')) return Error("a surrogate pair");
            const int low = Hex4();
            if (low < 0xDC00 || low > 0xDFFF) return Error("a surrogate pair");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          if (code == 0) return Error("no NUL");
          AppendUtf8(code, &out);
          break;
        }
        default:
          return Error("a valid escape");
      }
    }
  }

  int Hex4() {
    if (at_ + 4 > text_.size()) return -1;
    int value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[at_++];
      int digit = -1;
      if (c >= '0' && c <= '9') digit = c - '0';
      if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    return value;
  }

  static void AppendUtf8(int code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  bool Digits() {
    const size_t start = at_;
    while (at_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
    return at_ > start;
  }
  bool Word(absl::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }
  bool Take(char c) {
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  void Space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }
  absl::Status Error(absl::string_view expected) const {
    return absl::InvalidArgumentError(absl::StrCat("bad JSON body at byte ", at_, ": expected ", expected));
  }

  absl::string_view text_;
  size_t at_ = 0;
  bool null_ = false;
};

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseFlatJsonObject(absl::string_view body) {
  // RFC 8259 §8.1: JSON text is UTF-8. (Bytes that are not would also come back as
  // U+FFFD when written, so two different keys could become one.)
  if (!core::IsValidUtf8(body)) return absl::InvalidArgumentError("the JSON body is not UTF-8");
  return Parser(body).Object();
}

}  // namespace ringpost::net
