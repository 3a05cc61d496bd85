// A provided buffer ring (io_uring_register_buf_ring) and the loans it hands out.
//
// Owned by one shard; not thread-safe. Multishot recv picks a buffer from this ring
// for each completion; from then until the loan is dropped the buffer is ours
// (STYLE.md: a buffer given to the kernel is on loan until its CQE; here the
// direction is reversed: a received buffer is on loan to the session until the
// BufferLoan dies, and only then goes back to the kernel).
//
// When every buffer is on loan the kernel answers recv with -ENOBUFS: that is
// back-pressure, and receiving resumes once loans come back (net/connection_table).
// Memory is fixed at Init(): count * buffer_bytes, never grown.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "core/check.h"

namespace ringpost::core {

class BufferRing;

// A received buffer lent to a session. Move-only; returns the buffer to the ring
// (and decrements its holder's count) when it dies. A loan may also own its bytes
// (Owned): decrypted TLS data, which no ring buffer holds, reaches sessions the same way
// and counts against the same per-connection cap. Or it may only borrow them (Borrowed):
// bytes a session keeps, unchanged, until the connection has sent them (or closed,
// which happens before the session is destroyed).
class BufferLoan {
 public:
  BufferLoan() = default;
  static BufferLoan Owned(std::string bytes, uint32_t* holder_count) {
    RP_CHECK_LE(bytes.size(), uint64_t{UINT32_MAX});  // the size is kept in 32 bits
    BufferLoan loan;
    loan.owned_ = new std::string(std::move(bytes));
    loan.size_bytes_ = static_cast<uint32_t>(loan.owned_->size());
    loan.holder_count_ = holder_count;
    if (holder_count != nullptr) ++*holder_count;
    return loan;
  }
  static BufferLoan Borrowed(absl::string_view bytes) {
    RP_CHECK_LE(bytes.size(), uint64_t{UINT32_MAX});
    BufferLoan loan;
    loan.borrowed_ = bytes.data();
    loan.size_bytes_ = static_cast<uint32_t>(bytes.size());
    return loan;
  }
  BufferLoan(BufferRing* ring, uint16_t buffer_id, uint32_t size_bytes, uint32_t* holder_count)
      : ring_(ring), buffer_id_(buffer_id), size_bytes_(size_bytes), holder_count_(holder_count) {
    if (holder_count_ != nullptr) ++*holder_count_;
  }
  BufferLoan(BufferLoan&& other) noexcept { *this = std::move(other); }
  BufferLoan& operator=(BufferLoan&& other) noexcept {
    if (this != &other) {
      Reset();
      ring_ = std::exchange(other.ring_, nullptr);
      owned_ = std::exchange(other.owned_, nullptr);
      borrowed_ = std::exchange(other.borrowed_, nullptr);
      buffer_id_ = other.buffer_id_;
      size_bytes_ = std::exchange(other.size_bytes_, 0);
      holder_count_ = std::exchange(other.holder_count_, nullptr);
    }
    return *this;
  }
  BufferLoan(const BufferLoan&) = delete;
  BufferLoan& operator=(const BufferLoan&) = delete;
  ~BufferLoan() { Reset(); }

  bool valid() const { return ring_ != nullptr || owned_ != nullptr || borrowed_ != nullptr; }
  const char* data() const;
  uint32_t size() const { return size_bytes_; }
  absl::string_view view() const { return {data(), size_bytes_}; }
  // Gives the buffer back now.
  void Reset();

 private:
  BufferRing* ring_ = nullptr;
  std::string* owned_ = nullptr;  // Owned(): the bytes are here, not in a ring buffer
  const char* borrowed_ = nullptr;  // Borrowed(): the bytes are the lender's
  uint16_t buffer_id_ = 0;
  uint32_t size_bytes_ = 0;
  uint32_t* holder_count_ = nullptr;
};

class BufferRing {
 public:
  BufferRing() = default;
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  ~BufferRing();

  // `count` must be a power of two (kernel rule), at most 32768.
  absl::Status Init(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_bytes);

  uint16_t group_id() const { return group_id_; }
  uint32_t count() const { return count_; }
  uint32_t buffer_bytes() const { return buffer_bytes_; }
  // Buffers the kernel may still pick from.
  uint32_t free_count() const { return count_ - on_loan_; }

  // Called for a recv CQE with IORING_CQE_F_BUFFER: the kernel handed us `buffer_id`.
  BufferLoan Take(uint16_t buffer_id, uint32_t size_bytes, uint32_t* holder_count);

 private:
  friend class BufferLoan;
  void Return(uint16_t buffer_id);
  char* BufferData(uint16_t buffer_id) const {
    return base_ + static_cast<size_t>(buffer_id) * buffer_bytes_;
  }

  io_uring* ring_ = nullptr;
  io_uring_buf_ring* buf_ring_ = nullptr;
  char* base_ = nullptr;
  size_t ring_bytes_ = 0;
  uint16_t group_id_ = 0;
  uint32_t count_ = 0;
  uint32_t buffer_bytes_ = 0;
  uint32_t on_loan_ = 0;
#ifndef NDEBUG
  std::unique_ptr<bool[]> loaned_;  // catches double returns and stray ids
#endif
};

inline const char* BufferLoan::data() const {
  if (owned_ != nullptr) return owned_->data();
  if (borrowed_ != nullptr) return borrowed_;
  RP_DCHECK(ring_ != nullptr);
  return ring_->BufferData(buffer_id_);
}

inline void BufferLoan::Reset() {
  if (borrowed_ != nullptr) {
    borrowed_ = nullptr;
    size_bytes_ = 0;
    return;
  }
  if (ring_ == nullptr && owned_ == nullptr) return;
  if (holder_count_ != nullptr) {
    RP_DCHECK(*holder_count_ > 0);
    --*holder_count_;
  }
  if (owned_ != nullptr) {
    delete owned_;
    owned_ = nullptr;
  } else {
    ring_->Return(buffer_id_);
  }
  ring_ = nullptr;
  holder_count_ = nullptr;
  size_bytes_ = 0;
}

}  // namespace ringpost::core
