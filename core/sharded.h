// One instance of a service per shard, and cross-shard calls that name their receiver
// (Seastar's sharded<S>::invoke_on): a handoff carries this registry, and the target
// shard finds its own instance by its id. Nothing is looked up in thread-local state,
// and nothing is shared: an instance is touched only by its own shard's thread.
//
// Lifecycle: created before the shards start (one slot per shard, all null); each
// shard registers its instance during its setup and unregisters it when the instance
// dies. The runtime drains no inbox before every setup has run, so a call posted during
// setup finds its receiver. A call whose receiver is gone (its setup failed, or the
// shard is being destroyed) disposes of its payload instead.
#pragma once

#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/shard.h"

namespace ringpost::core {

template <typename T>
class Sharded {
 public:
  using Handler = void (T::*)(void* pointer, uint64_t argument);

  explicit Sharded(int shards) : instances_(static_cast<size_t>(shards), nullptr) {}
  Sharded(const Sharded&) = delete;
  Sharded& operator=(const Sharded&) = delete;

  // On `shard`'s own thread.
  void Register(Shard& shard, T* instance) {
    RP_CHECK(instances_.at(static_cast<size_t>(shard.id())) == nullptr);
    instances_[static_cast<size_t>(shard.id())] = instance;
  }
  void Unregister(Shard& shard) { instances_.at(static_cast<size_t>(shard.id())) = nullptr; }
  // This shard's instance (null before it registered).
  T* Local(const Shard& shard) const { return instances_.at(static_cast<size_t>(shard.id())); }
  int shard_count() const { return static_cast<int>(instances_.size()); }

  // The envelope that runs `(instance on the target)->*H(pointer, argument)` on the
  // shard it is posted to (Shard::Post, or an Outbox). `dispose` frees `pointer` if the
  // call never runs.
  template <Handler H>
  Envelope Call(void* pointer, uint64_t argument, void (*dispose)(void*, uint64_t) = nullptr) {
    return Envelope{&Deliver<H>, this, pointer, argument, dispose};
  }

 private:
  template <Handler H>
  static void Deliver(Shard& shard, const Envelope& envelope) {
    T* instance = static_cast<Sharded*>(envelope.receiver)->Local(shard);
    if (instance == nullptr) return envelope.Dispose();
    (instance->*H)(envelope.pointer, envelope.argument);
  }

  std::vector<T*> instances_;  // slot k: written and read only by shard k's thread
};

}  // namespace ringpost::core
