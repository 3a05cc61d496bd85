// A TCP connection driven by its shard's ring, and the session interface that
// protocol code implements on top of it.
//
// Owned by one shard's ConnectionTable; not thread-safe. Per socket at most one recv
// (multishot, into the shard's provided buffer ring) and one send (sendmsg of the
// queued output) are in flight. Received bytes arrive as BufferLoans; a session that
// keeps a loan (e.g. to send straight from it) holds that receive buffer, and each
// connection's share of the ring is capped: past the cap its recv pauses until loans
// come back, so one slow client cannot pin the shard's pool.
//
// Lifecycle: Open → (Close requested) → Closing: every in-flight op is cancelled and
// its CQE awaited → session destroyed, fd closed, generation bumped, slot freed.
// Close() never frees synchronously, so a session may call it from any callback.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "core/buffer_ring.h"
#include "core/clock.h"
#include "core/socket_address.h"
#include "core/timer_wheel.h"
#include "net/transport/tls_channel.h"

namespace ringpost::core {
class Shard;
}

namespace ringpost::net {

class Connection;
class ConnectionTable;

// Protocol logic for one connection. Callbacks run on the owning shard's thread.
class Session {
 public:
  virtual ~Session() = default;
  // The connection is ready: accepted, or connected (outbound).
  virtual void OnOpen(Connection& connection) = 0;
  // Bytes arrived, in order. The session owns `bytes`: drop it to give the buffer
  // back, or keep it (move it into Connection::Send to send from it without a copy).
  virtual void OnRecv(Connection& connection, core::BufferLoan bytes) = 0;
  // The peer closed its side (EOF, TLS close_notify), or the socket failed (broken()).
  // The default closes at once; a session that still owes replies to what arrived
  // before a close sends them first (SmtpSession).
  virtual void OnPeerClosed(Connection& connection);
  // Everything queued has been sent.
  virtual void OnSendDrained(Connection& connection) { (void)connection; }
  // The connection's timer (Connection::ArmTimer) fired.
  virtual void OnTimer(Connection& connection) { (void)connection; }
  // The shard is stopping; `deadline` ends the grace period, after which the
  // connection is closed regardless. The default closes now.
  virtual void OnShutdown(Connection& connection, core::MonoNanos deadline);
  // The TLS handshake begun by Connection::StartTls finished; from now on OnRecv gets
  // decrypted bytes and Send encrypts.
  virtual void OnTlsReady(Connection& connection) { (void)connection; }
  // The handshake or the TLS stream failed (`error` says how). The default closes
  // (after any alert BoringSSL queued for the peer).
  virtual void OnTlsFailed(Connection& connection, const std::string& error);
  // An outbound connect failed; the connection closes right after.
  virtual void OnConnectFailed(Connection& connection, const absl::Status& status) {
    (void)connection;
    (void)status;
  }
};

class Connection {
 public:
  static constexpr int kIovMax = 16;
  static constexpr size_t kTlsSliceBytes = 64 * 1024;  // plaintext encrypted per step

  uint32_t slot() const { return slot_; }
  uint32_t generation() const { return generation_; }
  int fd() const { return fd_; }
  bool inbound() const { return inbound_; }
  const core::SocketAddress& peer() const { return peer_; }
  core::Shard& shard();
  Session* session() { return session_.get(); }
  bool closing() const { return state_ == State::kClosing; }
  // The socket failed (a reset, not the peer's orderly EOF): nothing more can be sent.
  bool broken() const { return broken_; }

  // Queues bytes (copied) for sending; they leave with the next sendmsg.
  void Send(absl::string_view bytes);
  // Queues a received buffer for sending without copying; it goes back to the ring
  // once sent.
  void Send(core::BufferLoan bytes);
  // Closes once everything queued has been sent.
  void CloseAfterSend();
  // Closes now; queued output is dropped.
  void Close();

  // Switches the connection to TLS (STARTTLS, RFC 3207 §4.2): what is queued so far
  // leaves as it is (the 220 that answers STARTTLS); from now on Send encrypts and
  // the session receives decrypted bytes. The session hears OnTlsReady or OnTlsFailed.
  // Bytes received before this call are the caller's to discard (CVE-2011-0411).
  void StartTls(std::unique_ptr<TlsChannel> channel);
  // Bytes read before StartTls that belong to the TLS stream (a PROXY header and the
  // client's ClientHello in one read, on an implicit-TLS port): decrypted as if just
  // received. Precondition: tls() is set.
  void ReceiveEarlyCiphertext(core::BufferLoan ciphertext);
  // Null until StartTls.
  const TlsChannel* tls() const { return tls_.get(); }
  TlsChannel* mutable_tls() { return tls_.get(); }

  size_t queued_bytes() const { return queued_bytes_; }
  uint32_t loans_held() const { return loans_held_; }

  // One timer per connection (idle and protocol timeouts): re-arming replaces it.
  void ArmTimer(core::MonoNanos deadline);
  void CancelTimer();

 private:
  friend class ConnectionTable;
  enum class State : uint8_t { kFree, kConnecting, kOpen, kClosing };
  struct OutChunk {
    core::BufferLoan loan;  // when valid, the bytes are the loan's
    std::string bytes;      // otherwise these
    uint32_t offset = 0;    // bytes of this chunk already sent
    absl::string_view view() const { return loan.valid() ? loan.view() : absl::string_view(bytes); }
  };

  Connection() = default;
  static void OnTimerFired(void* context);
  void Queue(absl::string_view bytes);           // appends to the output as it is
  std::string& Tail();                           // the output chunk new bytes may go into
  void ReceiveTls(core::BufferLoan ciphertext);  // a recv under TLS: decrypt, then tell the session
  void QueueTlsOutput();                         // the channel's ciphertext into the output
  bool OpsInFlight() const { return recv_armed_ || send_in_flight_ || connect_in_flight_; }

  ConnectionTable* table_ = nullptr;
  uint32_t slot_ = 0;
  uint32_t generation_ = 1;
  int fd_ = -1;
  State state_ = State::kFree;
  bool inbound_ = true;
  bool recv_armed_ = false;
  bool recv_cancel_sent_ = false;  // a pause cancel is on its way
  bool send_in_flight_ = false;
  bool connect_in_flight_ = false;
  bool close_after_send_ = false;
  bool peer_closed_ = false;
  bool broken_ = false;
  bool waiting_for_buffers_ = false;  // recv ended with -ENOBUFS
  bool on_finish_list_ = false;
  bool on_flush_list_ = false;
  uint32_t loans_held_ = 0;
  uint32_t chunks_in_flight_ = 0;
  size_t queued_bytes_ = 0;
  core::SocketAddress peer_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<TlsChannel> tls_;
  std::deque<OutChunk> out_;  // a deque: chunks never move while the kernel reads them
  // The buffer of the last chunk sent (up to kSpareChunkBytesMax), empty, for the next
  // one: replies and messages of a steady connection allocate nothing.
  static constexpr size_t kSpareChunkBytesMax = 64 * 1024;
  std::string spare_bytes_;
  core::TimerNode timer_;
  iovec iov_[kIovMax];
  msghdr msg_{};
};

}  // namespace ringpost::net
