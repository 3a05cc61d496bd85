#include "net/transport/tls_library.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

// OPENSSL_IS_BORINGSSL is defined (empty) only by BoringSSL's base.h.
#ifdef OPENSSL_IS_BORINGSSL
inline constexpr bool kHeadersAreBoringSsl = true;
#else
inline constexpr bool kHeadersAreBoringSsl = false;
#endif
static_assert(kHeadersAreBoringSsl,
              "OpenSSL headers were picked up instead of BoringSSL's (/usr/include/android)");

namespace ringpost::net {

std::string TlsLibraryVersion() {
  // Calling into libssl (not just libcrypto) keeps the linker from dropping it, so the
  // loaded-library test sees exactly what TLS will use.
  const SSL_METHOD* method = TLS_method();
  return method != nullptr ? OpenSSL_version(OPENSSL_VERSION) : "unknown";
}

}  // namespace ringpost::net
