#include "queue/recent_bodies.h"

#include <utility>

namespace ringpost::queue {

namespace {
constexpr size_t kSpareBuffers = 64;
}  // namespace

std::string RecentBodies::TakeBuffer() {
  if (spare_.empty()) return {};
  std::string buffer = std::move(spare_.back());
  spare_.pop_back();
  buffer.clear();
  return buffer;
}

void RecentBodies::ReturnBuffer(std::string buffer) {
  if (spare_.size() < kSpareBuffers && buffer.capacity() <= kBodyBytesMax)
    spare_.push_back(std::move(buffer));
}

void RecentBodies::Keep(uint32_t segment, uint64_t message_ref, std::string body) {
  if (body.size() > kBodyBytesMax) return ReturnBuffer(std::move(body));
  bytes_ += body.size();
  auto [it, inserted] = bodies_.try_emplace(message_ref);
  if (!inserted) {  // a number seen in an earlier segment this run: cannot happen, but stays exact
    bytes_ -= it->second.bytes.size();
    ReturnBuffer(std::move(it->second.bytes));
  } else {
    order_.push_back(message_ref);
  }
  it->second.segment = segment;
  it->second.bytes = std::move(body);
  while (bytes_ > kBytesMax && !order_.empty()) {
    auto oldest = bodies_.find(order_.front());
    order_.pop_front();
    if (oldest == bodies_.end()) continue;
    bytes_ -= oldest->second.bytes.size();
    ReturnBuffer(std::move(oldest->second.bytes));
    bodies_.erase(oldest);
  }
}

const std::string* RecentBodies::Find(uint32_t segment, uint64_t message_ref, uint64_t bytes) const {
  auto it = bodies_.find(message_ref);
  if (it == bodies_.end() || it->second.segment != segment || it->second.bytes.size() != bytes)
    return nullptr;
  return &it->second.bytes;
}

}  // namespace ringpost::queue
