// The DATA phase of SMTP (RFC 5321 §4.1.1.4, §4.5.2): finds the end of the message
// and turns what the client sent into the stored body.
//
// Sans-I/O, streaming across arbitrary chunk splits, bounded state (at most two held
// bytes). The reference model, which the fuzz target checks it against:
//   1. The message ends at the first "\r\n.\r\n" in "\r\n" + input (the data starts at
//      a line start). Only that sequence ends it: "\n.\n", "\r.\r", "\n.\r\n" and
//      friends never do, so one DATA can never yield two messages (SMTP smuggling,
//      CVE-2023-51764 family).
//   2. In the body before it (which ends with that CRLF), every bare LF and bare CR
//      becomes CRLF (kNormalize), or its presence is recorded (kReject: the caller
//      answers 550 5.5.2 after the terminator and keeps nothing).
//   3. Dot-unstuffing: a line that starts with "." loses that first dot.
// The body handed to `emit` is therefore CRLF-clean and unstuffed; delivery re-stuffs.
//
// Speed: runs of ordinary lines are found 64 bytes at a time (line_scan.h) and emitted as views
// into the input (no copy); only line endings and leading dots take the slow path.
// Every emitted view points into the input or at static constants (never at a
// temporary), so a caller may gather the views of one input and write them at once;
// consecutive views of an ordinary message are adjacent in memory and can be joined.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

enum class BareLineEndings { kNormalize, kReject };

class DataReader {
 public:
  using Emit = absl::FunctionRef<void(absl::string_view body_piece)>;

  explicit DataReader(BareLineEndings mode) : mode_(mode) {}

  // Consumes bytes from the front of `input` and emits body bytes. Stops right after
  // the terminator: returns how many bytes were consumed, and done() turns true.
  size_t Consume(absl::string_view input, Emit emit);

  bool done() const { return done_; }
  // A bare CR or LF was seen (kReject: refuse the message; kNormalize: fixed).
  bool saw_bare_line_ending() const { return saw_bare_; }
  // Body bytes emitted so far (after normalisation and unstuffing).
  uint64_t body_bytes() const { return body_bytes_; }
  // Ready for the next message.
  void Reset();

 private:
  // Stage 1 (terminator) state: how much of "\r\n.\r\n" has matched.
  enum class Match : uint8_t { kNone, kCr, kCrLf, kCrLfDot, kCrLfDotCr };

  void Stage2(const char* at, Emit emit);           // normalise line endings
  void Stage3(absl::string_view piece, Emit emit);  // unstuff and emit
  void EmitCrLf(const char* lf, Emit emit);         // `lf`: the LF in the input, if any

  const BareLineEndings mode_;
  const char* input_begin_ = nullptr;  // of the input being consumed
  Match match_ = Match::kCrLf;         // the data starts at a line start
  bool pending_cr_ = false;            // stage 2: a CR waiting to see whether LF follows
  bool at_line_start_ = true;          // stage 3
  bool done_ = false;
  bool saw_bare_ = false;
  uint64_t body_bytes_ = 0;
};

}  // namespace ringpost::net
