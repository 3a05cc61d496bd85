// One TLS connection without a socket: BoringSSL over two memory BIOs. Ciphertext from
// the peer goes in (Feed), plaintext comes out; plaintext to send goes in (Write),
// ciphertext to send comes out (TakeOutput). The shard's ring does every socket read
// and write (net/connection.h drives this), so a handshake never blocks a shard.
//
// Single-threaded, on the connection's shard. Bounded: BoringSSL holds at most one
// record (16 KiB plus overhead) of input it cannot yet decrypt; everything decrypted
// is handed out at once.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "net/transport/tls_context.h"

namespace ringpost::net {

// What a finished handshake agreed, for Received:, logs and the accounting log.
struct TlsSummary {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_128_GCM_SHA256"
  std::string sni;      // the name the client asked for (server side), or sent (client side)
  bool resumed = false;
  bool peer_verified = false;  // client side: the chain and the name checked out
  std::string Description() const { return version + " " + cipher; }  // "TLSv1.3 TLS_AES_128_GCM_SHA256"
};

class TlsChannel {
 public:
  enum class State { kHandshaking, kOpen, kClosed, kFailed };

  static std::unique_ptr<TlsChannel> NewServer(std::shared_ptr<TlsContext> context);
  // `sni` (may be empty) is sent as server_name and is the name the certificate is
  // checked against. `resume` (may be null) is offered for resumption.
  static std::unique_ptr<TlsChannel> NewClient(std::shared_ptr<TlsContext> context, const std::string& sni,
                                               SSL_SESSION* resume);
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  // Starts the handshake (a client's ClientHello lands in the output). Once, before Feed.
  void Start();
  // Ciphertext from the peer, in order, any split. Decrypted bytes are appended to
  // `plaintext`. The state may move to kOpen (handshake done) or kFailed (see error()).
  // After the peer's close_notify (peer_closed()) nothing more is read; the channel
  // stays kOpen for writing until Shutdown().
  void Feed(absl::string_view ciphertext, std::string* plaintext);
  // Encrypts plaintext for the peer. Only in kOpen; otherwise ignored.
  void Write(absl::string_view plaintext);
  // Sends close_notify (then nothing more is written).
  void Shutdown();

  bool has_output() const;
  // Moves the ciphertext waiting to be sent to the end of `out`.
  void TakeOutput(std::string* out);

  State state() const { return state_; }
  // The peer sent close_notify: it sends nothing more, but may still read.
  bool peer_closed() const { return peer_closed_; }
  bool open() const { return state_ == State::kOpen; }
  const std::string& error() const { return error_; }
  // Valid once open.
  const TlsSummary& summary() const { return summary_; }
  // Client side: a session the server issued (TLS 1.3 sends it after the handshake),
  // for resuming the next connection to the same destination. Null when none is new.
  bssl::UniquePtr<SSL_SESSION> TakeNewSession() { return std::move(new_session_); }

  // BoringSSL's new-session callback (installed by TlsContext::Client).
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);

 private:
  TlsChannel(std::shared_ptr<TlsContext> context, SSL* ssl, BIO* in, BIO* out);
  void Advance(std::string* plaintext);
  void Fail(absl::string_view what);
  void Summarize();

  std::shared_ptr<TlsContext> context_;  // keeps the SSL_CTX (maybe a reloaded one) alive
  SSL* ssl_;
  BIO* in_;   // owned by ssl_
  BIO* out_;  // owned by ssl_
  State state_ = State::kHandshaking;
  bool peer_closed_ = false;
  std::string error_;
  TlsSummary summary_;
  bssl::UniquePtr<SSL_SESSION> new_session_;
};

}  // namespace ringpost::net
