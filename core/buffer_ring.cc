#include "core/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace ringpost::core {

BufferRing::~BufferRing() {
  if (buf_ring_ != nullptr) {
    io_uring_unregister_buf_ring(ring_, group_id_);
    munmap(buf_ring_, ring_bytes_);
  }
  if (base_ != nullptr) munmap(base_, static_cast<size_t>(count_) * buffer_bytes_);
}

absl::Status BufferRing::Init(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_bytes) {
  RP_CHECK(buf_ring_ == nullptr);
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("buffer count ", count, " is not a power of two in [1, 32768]"));
  }
  if (buffer_bytes == 0) return absl::InvalidArgumentError("buffer size is zero");
  ring_ = ring;
  group_id_ = group_id;
  count_ = count;
  buffer_bytes_ = buffer_bytes;
  const size_t data_bytes = static_cast<size_t>(count) * buffer_bytes;
  void* data = mmap(nullptr, data_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap receive buffers");
  base_ = static_cast<char*>(data);
  ring_bytes_ = static_cast<size_t>(count) * sizeof(io_uring_buf);
  // liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves (page aligned,
  // as IORING_REGISTER_PBUF_RING requires) and register it.
  void* mem = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap buffer ring");
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = count;
  reg.bgid = group_id;
  const int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret < 0) {
    munmap(buf_ring_, ring_bytes_);
    buf_ring_ = nullptr;
    return absl::ErrnoToStatus(-ret, "io_uring_register_buf_ring");
  }
  const int mask = io_uring_buf_ring_mask(count);
  for (uint32_t i = 0; i < count; ++i) {
    io_uring_buf_ring_add(buf_ring_, BufferData(static_cast<uint16_t>(i)), buffer_bytes,
                          static_cast<uint16_t>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
#ifndef NDEBUG
  loaned_ = std::make_unique<bool[]>(count);
#endif
  return absl::OkStatus();
}

BufferLoan BufferRing::Take(uint16_t buffer_id, uint32_t size_bytes, uint32_t* holder_count) {
  RP_CHECK_LT(buffer_id, count_);
  RP_CHECK_LE(size_bytes, buffer_bytes_);
#ifndef NDEBUG
  RP_CHECK_MSG(!loaned_[buffer_id], "the kernel handed out a buffer we hold");
  loaned_[buffer_id] = true;
#endif
  ++on_loan_;
  RP_CHECK_LE(on_loan_, count_);
  return BufferLoan(this, buffer_id, size_bytes, holder_count);
}

void BufferRing::Return(uint16_t buffer_id) {
  RP_CHECK_LT(buffer_id, count_);
  RP_CHECK_GT(on_loan_, 0u);
#ifndef NDEBUG
  RP_CHECK_MSG(loaned_[buffer_id], "buffer returned twice");
  loaned_[buffer_id] = false;
  // Poison: a view kept past its loan reads garbage instead of plausible old bytes.
  std::memset(BufferData(buffer_id), 0xA5, buffer_bytes_);
#endif
  --on_loan_;
  io_uring_buf_ring_add(buf_ring_, BufferData(buffer_id), buffer_bytes_, buffer_id,
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

}  // namespace ringpost::core
