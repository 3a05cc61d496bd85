// Little-endian fixed-width integers and length-prefixed strings for queue records.
// The reader is bounded: every read checks the remaining bytes, and a failed read
// poisons the reader (ok() turns false) instead of reading past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::queue {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed(v); }
  void U32(uint32_t v) { Fixed(v); }
  void U64(uint64_t v) { Fixed(v); }
  void Bytes(absl::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s.data(), s.size());
  }

 private:
  template <typename T>
  void Fixed(T v) {
    char bytes[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<char>(v >> (8 * i));
    out_->append(bytes, sizeof(T));
  }
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(absl::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  uint8_t U8() { return static_cast<uint8_t>(Fixed<uint8_t>()); }
  uint16_t U16() { return Fixed<uint16_t>(); }
  uint32_t U32() { return Fixed<uint32_t>(); }
  uint64_t U64() { return Fixed<uint64_t>(); }
  // A length-prefixed string of at most `max_bytes`.
  absl::string_view Bytes(size_t max_bytes) {
    const uint32_t n = U32();
    if (!ok_ || n > max_bytes || n > in_.size()) {
      ok_ = false;
      return {};
    }
    absl::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }

 private:
  template <typename T>
  T Fixed() {
    if (!ok_ || in_.size() < sizeof(T)) {
      ok_ = false;
      return 0;
    }
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(sizeof(T));
    return v;
  }
  absl::string_view in_;
  bool ok_ = true;
};

}  // namespace ringpost::queue
