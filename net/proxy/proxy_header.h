// The PROXY protocol header (HAProxy's "PROXY protocol", versions 1 and 2), read at the
// start of a connection from a load balancer: it says which client the connection
// really comes from. Pure: bytes in, a verdict out; no sockets, no clock.
//
//   v1: "PROXY TCP4 192.0.2.1 198.51.100.2 51234 25\r\n" (at most 107 bytes), or
//       "PROXY UNKNOWN ...\r\n" (the balancer's own connection: use the socket's address)
//   v2: the 12-byte signature, version/command, family/transport, a 16-bit length, the
//       addresses, then TLVs (type, 16-bit length, value); LOCAL means the socket's
//       address, as does an unspecified or Unix family.
//
// The reader takes the header's bytes and no more, so whatever follows it in the same
// read is the client's first bytes. Limits: 107 bytes for v1, 16 + 2048 for v2.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "core/socket_address.h"

namespace ringpost::net {

struct ProxyHeader {
  int version = 0;                  // 1 or 2
  bool use_socket = false;          // v1 UNKNOWN, v2 LOCAL or a family without addresses to use
  core::SocketAddress source;       // the client, when !use_socket
  core::SocketAddress destination;  // the address the client connected to
};

class ProxyHeaderReader {
 public:
  static constexpr size_t kV1BytesMax = 107;  // the specification's bound, CRLF included
  static constexpr size_t kV2FixedBytes = 16;
  static constexpr size_t kV2PayloadBytesMax = 2048;  // addresses and TLVs

  enum class Result { kNeedMore, kDone, kError };

  // Reads from `input`; `*consumed` says how many of its bytes were the header's.
  // After kDone, header() holds the verdict; after kError, error() says why. Once done
  // or failed, further calls change nothing.
  Result Feed(absl::string_view input, size_t* consumed);

  const ProxyHeader& header() const { return header_; }
  const std::string& error() const { return error_; }

 private:
  Result Fail(std::string why);
  Result FinishV1();
  Result FinishV2();

  std::string buffer_;
  size_t needed_ = 0;  // v2: the whole header's length once the fixed part is in
  Result result_ = Result::kNeedMore;
  ProxyHeader header_;
  std::string error_;
};

}  // namespace ringpost::net
