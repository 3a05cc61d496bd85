#include "net/data_reader.h"

#include <cstring>

#include "core/check.h"

namespace ringpost::net {
namespace {
constexpr absl::string_view kCrLf = "\r\n";
constexpr absl::string_view kDot = ".";
}  // namespace

void DataReader::Reset() {
  match_ = Match::kCrLf;
  pending_cr_ = false;
  at_line_start_ = true;
  done_ = false;
  saw_bare_ = false;
  body_bytes_ = 0;
}

void DataReader::EmitCrLf(Emit emit) {
  emit(kCrLf);
  body_bytes_ += 2;
  at_line_start_ = true;
}

void DataReader::Stage3(absl::string_view piece, Emit emit) {
  if (piece.empty()) return;
  if (at_line_start_ && piece.front() == '.') piece.remove_prefix(1);  // RFC 5321 §4.5.2
  at_line_start_ = false;
  if (piece.empty()) return;
  emit(piece);
  body_bytes_ += piece.size();
}

void DataReader::Stage2(char c, Emit emit) {
  if (pending_cr_) {
    pending_cr_ = false;
    if (c == '\n') return EmitCrLf(emit);
    saw_bare_ = true;  // a CR not followed by LF
    EmitCrLf(emit);
  }
  if (c == '\r') {
    pending_cr_ = true;
  } else if (c == '\n') {
    saw_bare_ = true;  // an LF without its CR
    EmitCrLf(emit);
  } else {
    Stage3(absl::string_view(&c, 1), emit);
  }
}

size_t DataReader::Consume(absl::string_view input, Emit emit) {
  RP_CHECK(!done_);
  const char* const p = input.data();
  const size_t n = input.size();
  size_t i = 0;
  while (i < n) {
    if (match_ == Match::kNone && !pending_cr_) {
      // Fast path: everything up to the next CR or LF is ordinary body.
      const void* lf = std::memchr(p + i, '\n', n - i);
      const size_t lf_at = lf ? static_cast<size_t>(static_cast<const char*>(lf) - p) : n;
      const void* cr = std::memchr(p + i, '\r', lf_at - i);
      const size_t stop = cr ? static_cast<size_t>(static_cast<const char*>(cr) - p) : lf_at;
      Stage3(absl::string_view(p + i, stop - i), emit);
      i = stop;
      if (i == n) break;
    }
    const char c = p[i++];
    switch (match_) {
      case Match::kNone:
        match_ = c == '\r' ? Match::kCr : Match::kNone;
        Stage2(c, emit);
        break;
      case Match::kCr:
        match_ = c == '\n' ? Match::kCrLf : (c == '\r' ? Match::kCr : Match::kNone);
        Stage2(c, emit);
        break;
      case Match::kCrLf:
        if (c == '.') {
          match_ = Match::kCrLfDot;  // held: maybe the terminator
        } else {
          match_ = c == '\r' ? Match::kCr : Match::kNone;
          Stage2(c, emit);
        }
        break;
      case Match::kCrLfDot:
        if (c == '\r') {
          match_ = Match::kCrLfDotCr;  // held too
        } else {
          Stage3(kDot, emit);  // the dot was stuffing or data; the line goes on
          match_ = Match::kNone;
          --i;  // look at c again from kNone
        }
        break;
      case Match::kCrLfDotCr:
        if (c == '\n') {
          RP_CHECK(!pending_cr_);  // the body ended with the terminator's CRLF
          done_ = true;
          return i;
        }
        Stage3(kDot, emit);
        Stage2('\r', emit);  // a bare CR after the dot
        match_ = Match::kCr;
        --i;  // look at c again from kCr
        break;
    }
  }
  return n;
}

}  // namespace ringpost::net
