// Scans of a message body for its line ends, 64 bytes at a time.
//
// Mail is lines of about 76 octets. Looking for each line's end with its own memchr
// costs a call per line; these scans instead classify 64 bytes at once into bit masks
// (CR, LF, and bytes that need a second look at a line start) and compare each byte's
// class with its neighbour's by shifting the masks, so a body with no surprises is
// one pass with a few instructions per 64 bytes, whatever its line lengths. The widest
// instruction set this CPU has (AVX-512BW, AVX2, SSE2) is picked once at start-up.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace ringpost::net {

// True when every CR is followed by LF and every LF follows a CR.
bool IsCrLfClean(absl::string_view bytes);

// The DATA reader's fast path (RFC 5321 §4.5.2): where the first CR or LF lies that
// is not part of a "plain" line end, or bytes.size() if there is none. A plain line
// end is a CR, then LF, then a byte inside `bytes` that is not '.', CR or LF, so the
// next line needs neither unstuffing nor a look for the terminator. `bytes` starts
// after a byte that is not a CR.
size_t PlainLinesEnd(absl::string_view bytes);

// The same with a given instruction set (one ScanIsaSupported says this CPU has), for tests and
// benchmarks: every version must give the same answers. kPortable is plain C++; the
// others are x86-64's.
enum class ScanIsa { kPortable, kSse2, kAvx2, kAvx512 };
bool ScanIsaSupported(ScanIsa isa);
bool IsCrLfClean(absl::string_view bytes, ScanIsa isa);
size_t PlainLinesEnd(absl::string_view bytes, ScanIsa isa);

}  // namespace ringpost::net
