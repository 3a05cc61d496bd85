// Which TLS library this build links. BoringSSL comes from Debian's
// android-libboringssl-dev; OpenSSL 3 is on the machine too, so the build refuses
// OpenSSL headers at compile time (static_assert in tls_library.cc) and a test checks
// which libssl the running daemon actually mapped.
#pragma once

#include <string>

namespace ringpost::net {

// The library's own version string (BoringSSL answers "BoringSSL").
std::string TlsLibraryVersion();

}  // namespace ringpost::net
