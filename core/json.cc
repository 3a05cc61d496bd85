#include "core/json.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "core/mail_date.h"
#include "core/utf8.h"

namespace ringpost::core {

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    // A run of printable ASCII other than '"' and '\\' goes as it is, in one append.
    size_t plain = i;
    while (plain < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[plain]);
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') break;
      ++plain;
    }
    if (plain > i) {
      out->append(s.data() + i, plain - i);
      i = plain;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out->append(escaped);
    } else if (const size_t n = Utf8SequenceLength(s, i); n > 0) {
      out->append(s.data() + i, n);
      i += n;
      continue;
    } else {
      out->append("\\ufffd");
    }
    ++i;
  }
  out->push_back('"');
}

std::string JsonTime(absl::Time t) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());  // "infinite-future"
  }
  return FormatRfc3339Micros(absl::ToUnixMicros(t));
}

std::string* JsonObject::Key(absl::string_view key) {
  if (!first_) out_->push_back(',');
  first_ = false;
  AppendJsonString(key, out_);
  out_->push_back(':');
  return out_;
}

JsonObject& JsonObject::String(absl::string_view key, absl::string_view value) {
  AppendJsonString(value, Key(key));
  return *this;
}

JsonObject& JsonObject::Int(absl::string_view key, int64_t value) {
  absl::StrAppend(Key(key), value);
  return *this;
}

JsonObject& JsonObject::Uint(absl::string_view key, uint64_t value) {
  absl::StrAppend(Key(key), value);
  return *this;
}

JsonObject& JsonObject::Number(absl::string_view key, double value) {
  if (!std::isfinite(value)) return Null(key);
  char text[32];
  std::snprintf(text, sizeof(text), "%.6f", value);
  Key(key)->append(text);
  return *this;
}

JsonObject& JsonObject::Seconds(absl::string_view key, absl::Duration value) {
  if (value == absl::InfiniteDuration() || value == -absl::InfiniteDuration()) return Null(key);
  // Integers, not printf's floating point: every accounting line has one.
  const int64_t micros = absl::ToInt64Microseconds(absl::AbsDuration(value) + absl::Nanoseconds(500));
  std::string* out = Key(key);
  if (value < absl::ZeroDuration() && micros != 0) out->push_back('-');
  absl::StrAppend(out, micros / 1000000, ".");
  char fraction[6];
  for (int64_t i = 5, rest = micros % 1000000; i >= 0; --i, rest /= 10)
    fraction[i] = static_cast<char>('0' + rest % 10);
  out->append(fraction, sizeof(fraction));
  return *this;
}

JsonObject& JsonObject::Bool(absl::string_view key, bool value) {
  Key(key)->append(value ? "true" : "false");
  return *this;
}

JsonObject& JsonObject::Time(absl::string_view key, absl::Time value) {
  AppendJsonString(JsonTime(value), Key(key));
  return *this;
}

JsonObject& JsonObject::Null(absl::string_view key) {
  Key(key)->append("null");
  return *this;
}

JsonObject& JsonObject::Raw(absl::string_view key, absl::string_view json) {
  Key(key)->append(json.data(), json.size());
  return *this;
}

}  // namespace ringpost::core
