// Writing JSON (RFC 8259) for logs and the admin API: strings escaped so every line
// parses (bytes that are not valid UTF-8 become U+FFFD), objects built field by field.
// Pure; appends to a caller's string, so a line costs no allocation of its own.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ringpost::core {

// `s` as a JSON string, quotes included.
void AppendJsonString(absl::string_view s, std::string* out);

// RFC 3339 in UTC with microseconds: "2026-11-29T12:00:00.123456Z".
std::string JsonTime(absl::Time t);

// {"a":1,"b":"x"}: opened by the constructor, closed by Close() (or the destructor).
class JsonObject {
 public:
  explicit JsonObject(std::string* out) : out_(out) { out_->push_back('{'); }
  ~JsonObject() { Close(); }
  JsonObject(const JsonObject&) = delete;
  JsonObject& operator=(const JsonObject&) = delete;

  JsonObject& String(absl::string_view key, absl::string_view value);
  JsonObject& Int(absl::string_view key, int64_t value);
  JsonObject& Uint(absl::string_view key, uint64_t value);
  JsonObject& Number(absl::string_view key, double value);  // finite, else null
  // In seconds with six decimals, as Number writes them ("2.500000"), rounded to the
  // nearest microsecond (an exact half up, where printf's double may fall just below
  // it); an infinite duration is null.
  JsonObject& Seconds(absl::string_view key, absl::Duration value);
  JsonObject& Bool(absl::string_view key, bool value);
  JsonObject& Time(absl::string_view key, absl::Time value);  // JsonTime
  JsonObject& Null(absl::string_view key);
  // A value already written as JSON (an array or object built elsewhere).
  JsonObject& Raw(absl::string_view key, absl::string_view json);
  // Starts a value for `key` and leaves it to the caller (a nested object or array).
  std::string* Key(absl::string_view key);
  void Close() {
    if (!closed_) out_->push_back('}');
    closed_ = true;
  }

 private:
  std::string* out_;
  bool first_ = true;
  bool closed_ = false;
};

// [..]: each Next() returns the string to append one element to.
class JsonArray {
 public:
  explicit JsonArray(std::string* out) : out_(out) { out_->push_back('['); }
  ~JsonArray() { Close(); }
  JsonArray(const JsonArray&) = delete;
  JsonArray& operator=(const JsonArray&) = delete;
  std::string* Next() {
    if (!first_) out_->push_back(',');
    first_ = false;
    return out_;
  }
  JsonArray& String(absl::string_view value) {
    AppendJsonString(value, Next());
    return *this;
  }
  void Close() {
    if (!closed_) out_->push_back(']');
    closed_ = true;
  }

 private:
  std::string* out_;
  bool first_ = true;
  bool closed_ = false;
};

}  // namespace ringpost::core
