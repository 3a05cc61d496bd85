// TLS configuration (BoringSSL SSL_CTX) for the two directions, and the server's
// reloadable certificate.
//
// An SSL_CTX is shared by every shard: BoringSSL makes SSL_new, its reference counts
// and its ticket keys thread-safe. Each TLS connection keeps a reference to the
// context it started with, so a reload (SIGHUP) changes only later handshakes.
//
// TLS 1.2 and 1.3 only (RFC 8996 retired 1.0 and 1.1).
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace ringpost::net {

class TlsContext {
 public:
  // The server side: a PEM certificate chain and its private key. Errors name the file
  // and BoringSSL's reason.
  // TLS 1.2 offers forward-secret AEAD suites only, in the server's order;
  // `legacy_ciphers` adds CBC suites after them (--tls_legacy_ciphers, for old peers).
  static absl::StatusOr<std::shared_ptr<TlsContext>> Server(const std::string& cert_path,
                                                            const std::string& key_path,
                                                            bool legacy_ciphers = false);
  // The client side (outbound STARTTLS). Certificates are checked against `ca_path`
  // (a PEM bundle; empty: none is trusted) and the name the connection asks for, but a
  // failed check does not stop the handshake: opportunistic TLS (RFC 7435) records
  // whether the peer verified. Sessions are kept for resumption (TlsChannel).
  static absl::StatusOr<std::shared_ptr<TlsContext>> Client(const std::string& ca_path);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ~TlsContext();

  SSL_CTX* get() const { return ctx_; }
  bool is_server() const { return server_; }

 private:
  TlsContext(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {}
  SSL_CTX* ctx_;
  bool server_;
};

// --tls_cert/--tls_key, reloadable. Reload() runs on one thread (shard 0's signal
// handling); Current() on any shard. A shard keeps the context it last fetched and asks
// for the new one only when the generation moved, so the common STARTTLS costs one
// atomic load and no lock.
class TlsServerCredentials {
 public:
  TlsServerCredentials(std::string cert_path, std::string key_path, bool legacy_ciphers = false)
      : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)), legacy_ciphers_(legacy_ciphers) {}

  // Loads the files. On failure the previous context (if any) stays in use.
  absl::Status Reload();
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<TlsContext> Current() const;
  const std::string& cert_path() const { return cert_path_; }

 private:
  const std::string cert_path_, key_path_;
  const bool legacy_ciphers_;
  mutable std::mutex mutex_;  // guards current_ (taken only after a reload)
  std::shared_ptr<TlsContext> current_;
  std::atomic<uint64_t> generation_{0};
};

// One shard's view of TlsServerCredentials.
class TlsServerContextCache {
 public:
  explicit TlsServerContextCache(const TlsServerCredentials* credentials) : credentials_(credentials) {}
  bool enabled() const { return credentials_ != nullptr; }
  // The newest context (null when TLS is not configured).
  const std::shared_ptr<TlsContext>& Get();

 private:
  const TlsServerCredentials* credentials_;
  std::shared_ptr<TlsContext> context_;
  uint64_t generation_ = 0;
};

// BoringSSL's error queue as text (and emptied), for logs and replies.
std::string TlsErrorText();

}  // namespace ringpost::net
