// Fuzz target: the PROXY protocol header reader, fed in two pieces. Never a crash; it
// never takes more than the bounds allow, and the same bytes fed at once give the same
// verdict and the same split between header and client bytes.
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "net/proxy/proxy_header.h"

using ringpost::net::ProxyHeaderReader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = size == 0 ? 0 : data[0] % (size + 1);
  ProxyHeaderReader pieces;
  size_t first = 0, second = 0;
  ProxyHeaderReader::Result result = pieces.Feed(input.substr(0, split), &first);
  if (result == ProxyHeaderReader::Result::kNeedMore) result = pieces.Feed(input.substr(split), &second);
  ProxyHeaderReader whole;
  size_t all = 0;
  RP_CHECK(whole.Feed(input, &all) == result);
  RP_CHECK(all == first + second);
  RP_CHECK(all <= ProxyHeaderReader::kV2FixedBytes + ProxyHeaderReader::kV2PayloadBytesMax);
  if (result == ProxyHeaderReader::Result::kDone && !whole.header().use_socket) {
    RP_CHECK(whole.header().source.family() == whole.header().destination.family());
    RP_CHECK(whole.header().source.ToString() == pieces.header().source.ToString());
  }
  return 0;
}
