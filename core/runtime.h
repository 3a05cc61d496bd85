// The runtime: N shard threads, the cross-shard handoff mesh, signals and shutdown.
//
// Created and run on the main thread. The constructor blocks SIGTERM/SIGINT/SIGHUP/
// SIGUSR1 (so construct it before announcing readiness); every shard thread inherits
// the mask and the signals are read through a signalfd on shard 0's ring; SIGTERM and
// SIGINT stop the runtime gracefully (stop handlers get the grace deadline, the shards
// exit once every shard's holds are released). The handoff mesh is one SpscQueue<Envelope>
// per ordered pair of shards, created before any thread starts and never resized.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "core/shard.h"

namespace ringpost::core {

struct RuntimeOptions {
  int shards = 1;
  bool pin_threads = true;
  MonoNanos shutdown_grace_nanos = 30 * kNanosPerSecond;
  ShardOptions shard;
};

class Runtime {
 public:
  using SetupFunction = std::function<absl::Status(Shard&)>;

  explicit Runtime(const RuntimeOptions& options);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  // Starts the shards, runs `setup` on each shard's own thread, and blocks until
  // every shard has exited. `on_started` runs once (on shard 0's thread) when every
  // shard's ring and setup succeeded, before any loop turn. Returns the first error of
  // a shard's ring or setup, naming the shard for a ring; then no loop runs but to stop.
  absl::Status Run(const SetupFunction& setup, const std::function<void()>& on_started = nullptr);

  // Any thread, any time (also from signal handling on shard 0). Idempotent.
  void RequestStop();
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }

  // Runs on shard 0's thread when `signo` (SIGHUP or SIGUSR1) arrives; for SIGTERM or
  // SIGINT (one handler for both), once, just before the stop begins.
  void SetSignalHandler(int signo, std::function<void()> handler);

  // Every shard is stopping with nothing held: the loops are ending (final).
  bool AllShardsSettled() const { return unsettled_shards_.load(std::memory_order_acquire) == 0; }

  int shard_count() const { return options_.shards; }
  const RuntimeOptions& options() const { return options_; }
  Shard& shard(int id) { return *shards_[id]; }
  SpscQueue<Envelope>& Queue(int from, int to) { return *queues_[from * options_.shards + to]; }
  int signal_fd() const { return signal_fd_; }

 private:
  friend class Shard;
  void ThreadMain(int id, const SetupFunction& setup);
  void HandleSignal(int signo);
  void WakeAllFromControlRing();
  // Shutdown ends every loop at once: a shard leaves its loop only when every shard is
  // stopping and holds nothing, so work one shard still owes another (results to make
  // durable in its log) always finds the other running. Shards report each change.
  // Once every shard has settled the end is final: ShardUnsettled() refuses (a shard may
  // still finish its own I/O, but may not wait for another shard any more).
  void ShardSettled();
  bool ShardUnsettled();

  const RuntimeOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::unique_ptr<SpscQueue<Envelope>>> queues_;  // [from * N + to]
  std::atomic<bool> stop_requested_{false};
  std::atomic<int> shards_ready_{0};
  std::atomic<bool> setup_failed_{false};
  std::atomic<int> unsettled_shards_{0};  // shards not yet stopping with nothing held
  std::mutex mutex_;  // guards control_ring_, first_error_, signal handlers
  absl::Status first_error_;
  std::unique_ptr<Ring> control_ring_;  // used only under mutex_ by non-shard wake-ups
  std::function<void()> sighup_handler_;
  std::function<void()> sigusr1_handler_;
  std::function<void()> stop_handler_;
  int signal_fd_ = -1;
};

}  // namespace ringpost::core
