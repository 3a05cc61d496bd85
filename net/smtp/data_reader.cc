#include "net/smtp/data_reader.h"

#include "core/check.h"
#include "net/smtp/line_scan.h"

namespace ringpost::net {
namespace {
// Emitted views always point at stable memory: the input, or these constants, so a
// caller may keep the views until its input goes away (and join adjacent ones).
constexpr absl::string_view kCrLf = "\r\n";
constexpr absl::string_view kDot = ".";
constexpr char kCr = '\r';
}  // namespace

void DataReader::Reset() {
  match_ = Match::kCrLf;
  pending_cr_ = false;
  at_line_start_ = true;
  done_ = false;
  saw_bare_ = false;
  body_bytes_ = 0;
}

void DataReader::EmitCrLf(const char* lf, Emit emit) {
  // A CRLF that came in one piece is emitted as a view of the input, so the caller can
  // join it to the text around it; a normalised or split one is the constant.
  const bool in_input = lf != nullptr && lf > input_begin_ && lf[-1] == '\r';
  emit(in_input ? absl::string_view(lf - 1, 2) : kCrLf);
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

void DataReader::Stage2(const char* at, Emit emit) {
  const char c = *at;
  if (pending_cr_) {
    pending_cr_ = false;
    if (c == '\n') return EmitCrLf(at, emit);
    saw_bare_ = true;  // a CR not followed by LF
    EmitCrLf(nullptr, emit);
  }
  if (c == '\r') {
    pending_cr_ = true;
  } else if (c == '\n') {
    saw_bare_ = true;  // an LF without its CR
    EmitCrLf(nullptr, emit);
  } else {
    Stage3(absl::string_view(at, 1), emit);
  }
}

size_t DataReader::Consume(absl::string_view input, Emit emit) {
  RP_CHECK(!done_);
  input_begin_ = input.data();
  const char* const p = input.data();
  const size_t n = input.size();
  size_t i = 0;
  while (i < n) {
    if (match_ == Match::kNone && !pending_cr_) {
      // Fast path: ordinary body up to the next CR or LF, extended over whole lines
      // while each ends in a proper CRLF and the next one starts with an ordinary
      // byte (not '.', CR or LF). Such lines need no change, so a run of them is one
      // view: a message of plain lines becomes one emit per input chunk.
      const size_t run_start = i;
      i += PlainLinesEnd(absl::string_view(p + i, n - i));  // the slow path takes the rest
      Stage3(absl::string_view(p + run_start, i - run_start), emit);
      if (i == n) break;
    }
    const char c = p[i++];
    switch (match_) {
      case Match::kNone:
        match_ = c == '\r' ? Match::kCr : Match::kNone;
        Stage2(p + i - 1, emit);
        break;
      case Match::kCr:
        match_ = c == '\n' ? Match::kCrLf : (c == '\r' ? Match::kCr : Match::kNone);
        Stage2(p + i - 1, emit);
        break;
      case Match::kCrLf:
        if (c == '.') {
          match_ = Match::kCrLfDot;  // held: maybe the terminator
        } else {
          match_ = c == '\r' ? Match::kCr : Match::kNone;
          Stage2(p + i - 1, emit);
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
        Stage2(&kCr, emit);  // a bare CR after the dot
        match_ = Match::kCr;
        --i;  // look at c again from kCr
        break;
    }
  }
  return n;
}

}  // namespace ringpost::net
