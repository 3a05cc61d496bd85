// Fuzz target: the block-wise line-end scans agree with byte-by-byte readings of the
// same rules, in every instruction set this CPU has and from every starting offset
// (so every alignment against the 64-byte blocks), and a found line end is always
// within the input.
#include <cstdint>

#include "core/check.h"
#include "net/smtp/line_scan.h"
#include "tests/support/line_scan_reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ringpost::net::ScanIsa;
  const absl::string_view all(reinterpret_cast<const char*>(data), size);
  for (ScanIsa isa : {ScanIsa::kPortable, ScanIsa::kSse2, ScanIsa::kAvx2, ScanIsa::kAvx512}) {
    if (!ringpost::net::ScanIsaSupported(isa)) continue;
    for (size_t skip = 0; skip < 64 && skip <= all.size(); ++skip) {
      const absl::string_view bytes = all.substr(skip);
      RP_CHECK(ringpost::net::IsCrLfClean(bytes, isa) == ringpost::testing::CrLfCleanByteByByte(bytes));
      if (skip > 0 && bytes.data()[-1] == '\r') continue;  // PlainLinesEnd's precondition
      const size_t end = ringpost::net::PlainLinesEnd(bytes, isa);
      RP_CHECK(end <= bytes.size());
      RP_CHECK(end == ringpost::testing::PlainLinesEndByLines(bytes));
    }
  }
  return 0;
}
