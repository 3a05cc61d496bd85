#include "net/transport/tls_context.h"

#include <openssl/err.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "net/transport/tls_channel.h"

namespace ringpost::net {
namespace {

SSL_CTX* NewContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  return ctx;
}

}  // namespace

std::string TlsErrorText() {
  std::string text;
  while (uint32_t code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "unknown TLS error" : text;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

// TLS 1.2 suites the server offers, in its order of preference: forward secret and
// AEAD only (TLS 1.3's are all AEAD and fixed). CBC suites (Lucky Thirteen and kin) come
// only with legacy_ciphers, last, for peers that know nothing newer.
constexpr char kAeadCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kLegacyCiphers[] =
    ":ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA";

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Server(const std::string& cert_path,
                                                               const std::string& key_path, bool legacy_ciphers) {
  ERR_clear_error();
  SSL_CTX* ctx = NewContext();
  if (ctx == nullptr) return absl::InternalError(TlsErrorText());
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, /*server=*/true));
  const std::string ciphers = legacy_ciphers ? std::string(kAeadCiphers) + kLegacyCiphers : kAeadCiphers;
  if (SSL_CTX_set_strict_cipher_list(ctx, ciphers.c_str()) != 1) return absl::InternalError(TlsErrorText());
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);  // our order, not the client's
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_cert ", cert_path, ": ", TlsErrorText()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_key ", key_path, ": ", TlsErrorText()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_key ", key_path, " does not match --tls_cert ", cert_path, ": ", TlsErrorText()));
  }
  return context;
}

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Client(const std::string& ca_path) {
  ERR_clear_error();
  SSL_CTX* ctx = NewContext();
  if (ctx == nullptr) return absl::InternalError(TlsErrorText());
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, /*server=*/false));
  if (!ca_path.empty() && SSL_CTX_load_verify_locations(ctx, ca_path.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_ca_file ", ca_path, ": ", TlsErrorText()));
  }
  // The chain is still verified (SSL_get_verify_result) and the outcome recorded.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  // Sessions are handed to the new-session callback (TlsChannel) for resumption; the
  // context's own cache stays off: the delivery agent keys sessions by destination.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, &TlsChannel::OnNewSession);
  return context;
}

absl::Status TlsServerCredentials::Reload() {
  absl::StatusOr<std::shared_ptr<TlsContext>> context = TlsContext::Server(cert_path_, key_path_, legacy_ciphers_);
  if (!context.ok()) return context.status();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = *std::move(context);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

std::shared_ptr<TlsContext> TlsServerCredentials::Current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

const std::shared_ptr<TlsContext>& TlsServerContextCache::Get() {
  if (credentials_ != nullptr) {
    const uint64_t generation = credentials_->generation();
    if (generation != generation_) {
      context_ = credentials_->Current();
      generation_ = generation;
    }
  }
  return context_;
}

}  // namespace ringpost::net
