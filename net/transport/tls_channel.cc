#include "net/transport/tls_channel.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "core/check.h"

namespace ringpost::net {
namespace {

constexpr size_t kReadChunkBytes = 16384;  // one TLS record's plaintext at most

BIO* NewMemoryBio() {
  BIO* bio = BIO_new(BIO_s_mem());
  RP_CHECK_MSG(bio != nullptr, "BIO_new");
  return bio;
}

}  // namespace

std::unique_ptr<TlsChannel> TlsChannel::NewServer(std::shared_ptr<TlsContext> context) {
  RP_CHECK(context != nullptr && context->is_server());
  SSL* ssl = SSL_new(context->get());
  RP_CHECK_MSG(ssl != nullptr, "SSL_new");
  BIO* in = NewMemoryBio();
  BIO* out = NewMemoryBio();
  SSL_set_bio(ssl, in, out);  // ssl owns both
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsChannel>(new TlsChannel(std::move(context), ssl, in, out));
}

std::unique_ptr<TlsChannel> TlsChannel::NewClient(std::shared_ptr<TlsContext> context, const std::string& sni,
                                                  SSL_SESSION* resume) {
  RP_CHECK(context != nullptr && !context->is_server());
  SSL* ssl = SSL_new(context->get());
  RP_CHECK_MSG(ssl != nullptr, "SSL_new");
  BIO* in = NewMemoryBio();
  BIO* out = NewMemoryBio();
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  auto channel = std::unique_ptr<TlsChannel>(new TlsChannel(std::move(context), ssl, in, out));
  // The certificate must name the host we asked for (RFC 6125), not just chain up; a
  // name BoringSSL refuses is neither sent nor counted as checked.
  if (!sni.empty() && SSL_set_tlsext_host_name(ssl, sni.c_str()) == 1 &&
      X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), sni.data(), sni.size()) == 1) {
    channel->summary_.sni = sni;
  }
  if (resume != nullptr) SSL_set_session(ssl, resume);
  return channel;
}

TlsChannel::TlsChannel(std::shared_ptr<TlsContext> context, SSL* ssl, BIO* in, BIO* out)
    : context_(std::move(context)), ssl_(ssl), in_(in), out_(out) {
  SSL_set_app_data(ssl_, this);
}

TlsChannel::~TlsChannel() { SSL_free(ssl_); }

int TlsChannel::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* channel = static_cast<TlsChannel*>(SSL_get_app_data(ssl));
  if (channel == nullptr) return 0;
  channel->new_session_.reset(session);  // returning 1 takes the reference
  return 1;
}

void TlsChannel::Start() {
  ERR_clear_error();
  Advance(nullptr);
}

void TlsChannel::Feed(absl::string_view ciphertext, std::string* plaintext) {
  if (state_ == State::kClosed || state_ == State::kFailed || peer_closed_) return;
  ERR_clear_error();
  while (!ciphertext.empty()) {
    const int n = static_cast<int>(std::min<size_t>(ciphertext.size(), INT_MAX));
    if (BIO_write(in_, ciphertext.data(), n) != n) return Fail("buffering input");
    ciphertext.remove_prefix(static_cast<size_t>(n));
  }
  Advance(plaintext);
}

void TlsChannel::Advance(std::string* plaintext) {
  if (state_ == State::kHandshaking) {
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) return;  // the peer's turn
      return Fail("handshake");
    }
    state_ = State::kOpen;
    Summarize();
  }
  if (plaintext == nullptr) return;
  char buffer[kReadChunkBytes];
  while (state_ == State::kOpen && !peer_closed_) {
    const int r = SSL_read(ssl_, buffer, sizeof(buffer));
    if (r > 0) {
      plaintext->append(buffer, static_cast<size_t>(r));
      continue;
    }
    const int error = SSL_get_error(ssl_, r);
    if (error == SSL_ERROR_WANT_READ) return;
    if (error == SSL_ERROR_ZERO_RETURN) {
      // close_notify: whatever follows is not read. The channel stays open for writing
      // (RFC 8446 §6.1: the peer closed its side only), so QUIT's 221 can still go out
      // when QUIT and close_notify came together; our Shutdown() closes it.
      peer_closed_ = true;
      return;
    }
    return Fail("read");
  }
}

void TlsChannel::Write(absl::string_view plaintext) {
  if (state_ != State::kOpen) return;
  ERR_clear_error();
  while (!plaintext.empty()) {
    const int n = static_cast<int>(std::min<size_t>(plaintext.size(), INT_MAX));
    const int r = SSL_write(ssl_, plaintext.data(), n);
    if (r <= 0) return Fail("write");
    plaintext.remove_prefix(static_cast<size_t>(r));
  }
}

void TlsChannel::Shutdown() {
  if (state_ != State::kOpen) return;
  SSL_shutdown(ssl_);  // queues close_notify; the peer's answer is not awaited
  state_ = State::kClosed;
}

bool TlsChannel::has_output() const { return BIO_pending(out_) > 0; }

void TlsChannel::TakeOutput(std::string* out) {
  // BIO_read of everything pending empties the BIO without BIO_reset's clearing of its
  // whole capacity.
  const size_t pending = BIO_pending(out_);
  if (pending == 0) return;
  const size_t before = out->size();
  out->resize(before + pending);
  const int n = BIO_read(out_, out->data() + before, static_cast<int>(pending));
  out->resize(before + static_cast<size_t>(std::max(n, 0)));
}

void TlsChannel::Fail(absl::string_view what) {
  state_ = State::kFailed;
  error_ = absl::StrCat(what, ": ", TlsErrorText());
}

void TlsChannel::Summarize() {
  summary_.version = SSL_get_version(ssl_);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_); cipher != nullptr) {
    summary_.cipher = SSL_CIPHER_get_name(cipher);
  }
  summary_.resumed = SSL_session_reused(ssl_) == 1;
  if (context_->is_server()) {
    if (const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name); name != nullptr) {
      summary_.sni = name;
    }
    return;
  }
  // Without a name there is no identity to check the certificate against.
  X509* peer = SSL_get_peer_certificate(ssl_);
  summary_.peer_verified =
      peer != nullptr && !summary_.sni.empty() && SSL_get_verify_result(ssl_) == X509_V_OK;
  X509_free(peer);
}

}  // namespace ringpost::net
