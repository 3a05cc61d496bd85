#include "core/runtime.h"

#include <pthread.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <latch>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/log.h"

namespace ringpost::core {
namespace {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, signo);
  return set;
}

// Pins the calling thread to the `index`-th CPU the process may run on, so an
// outer `taskset` still decides which CPUs the daemon gets.
void PinToAllowedCpu(int index) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  const int count = CPU_COUNT(&allowed);
  if (count <= 0) return;
  int wanted = index % count;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (wanted-- == 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
      return;
    }
  }
}

}  // namespace

Runtime::Runtime(const RuntimeOptions& options) : options_(options) {
  // Blocked here, on the constructing (main) thread, and inherited by every shard
  // thread: from now on signals arrive only through the signalfd that shard 0 reads
  // on its ring. Blocking before the caller announces readiness means a SIGTERM that
  // follows the announcement is always a graceful stop, never a default-action death.
  const sigset_t handled = HandledSignals();
  RP_CHECK(pthread_sigmask(SIG_BLOCK, &handled, nullptr) == 0);
  signal(SIGPIPE, SIG_IGN);  // a peer closing mid-send is an error code, not a death
  signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC);
  RP_CHECK_MSG(signal_fd_ >= 0, "signalfd");
  RP_CHECK_GT(options_.shards, 0);
  RP_CHECK_LE(options_.shards, 1024);
  for (int i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(*this, i, options_.shard));
  }
  queues_.resize(static_cast<size_t>(options_.shards) * options_.shards);
  for (int from = 0; from < options_.shards; ++from) {
    for (int to = 0; to < options_.shards; ++to) {
      if (from != to) {
        queues_[from * options_.shards + to] =
            std::make_unique<SpscQueue<Envelope>>(options_.shard.inbox_capacity);
      }
    }
  }
}

Runtime::~Runtime() {
  if (signal_fd_ >= 0) close(signal_fd_);
}

absl::Status Runtime::Run(const SetupFunction& setup, const std::function<void()>& on_started) {
  control_ring_ = std::make_unique<Ring>();
  RingOptions control_options;
  control_options.sq_entries = 64;
  control_options.cq_entries = 256;
  control_options.single_issuer = false;
  control_options.defer_taskrun = false;
  RP_RETURN_IF_ERROR(control_ring_->Init(control_options));

  unsettled_shards_.store(options_.shards, std::memory_order_release);
  std::latch rings_ready(options_.shards);
  std::latch setup_done(options_.shards);
  std::vector<std::thread> threads;
  for (int id = 0; id < options_.shards; ++id) {
    threads.emplace_back([this, id, &setup, &on_started, &rings_ready, &setup_done] {
      const std::string name = absl::StrCat("shard-", id);
      SetThreadLogName(name);
      pthread_setname_np(pthread_self(), absl::StrCat("rp-", name).c_str());
      if (options_.pin_threads) PinToAllowedCpu(id);
      Shard& shard = *shards_[id];
      absl::Status status = shard.InitOnThread();
      const bool initialized = status.ok();
      if (!initialized) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (first_error_.ok()) first_error_ = absl::Status(status.code(), absl::StrCat("shard ", id, ": ", status.message()));
        setup_failed_ = true;
      }
      if (!initialized) ShardSettled();  // it never runs: nothing to wait for
      rings_ready.arrive_and_wait();  // every ring fd exists before anyone posts
      if (!setup_failed_.load()) {
        status = setup(shard);
        if (!status.ok()) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (first_error_.ok()) first_error_ = status;
          setup_failed_ = true;
        }
      }
      setup_done.arrive_and_wait();  // no envelope reaches a shard before its setup ran
      if (setup_failed_.load()) {
        stop_requested_.store(true, std::memory_order_release);
      } else if (id == 0 && on_started) {
        on_started();  // every shard is up
      }
      // A shard without a ring never runs; the others drain what setup began and stop.
      if (initialized) shard.RunLoop();
    });
  }
  for (std::thread& t : threads) t.join();
  // Envelopes posted to a shard that had already left its loop were never delivered:
  // their owners' resources go with them.
  for (auto& queue : queues_) {
    if (queue == nullptr) continue;  // a shard posts to itself without a queue
    while (std::optional<Envelope> e = queue->TryPop()) {
      e->Dispose();
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  return first_error_;
}

void Runtime::RequestStop() {
  if (stop_requested_.exchange(true, std::memory_order_acq_rel)) return;
  WakeAllFromControlRing();
}

void Runtime::ShardSettled() {
  // The last to settle wakes the others, which may be waiting for completions.
  if (unsettled_shards_.fetch_sub(1, std::memory_order_acq_rel) == 1) WakeAllFromControlRing();
}

bool Runtime::ShardUnsettled() {
  int unsettled = unsettled_shards_.load(std::memory_order_acquire);
  do {
    if (unsettled == 0) return false;  // every loop is ending
  } while (!unsettled_shards_.compare_exchange_weak(unsettled, unsettled + 1, std::memory_order_acq_rel));
  return true;
}

void Runtime::WakeAllFromControlRing() {
  // Not a hot path: a stop happens once. The control ring is not SINGLE_ISSUER, so
  // any thread may use it under the mutex; each MSG_RING posts a kWake completion.
  std::lock_guard<std::mutex> lock(mutex_);
  if (control_ring_ == nullptr) return;
  for (auto& shard : shards_) {
    io_uring_sqe* sqe = control_ring_->GetSqe();
    io_uring_prep_msg_ring(sqe, shard->ring().fd(), 0, OpTag{0, 0, OpKind::kWake}.Encode(), 0);
    io_uring_sqe_set_data64(sqe, 0);
  }
  control_ring_->SubmitAndPoll();
  Completion discard[64];
  while (control_ring_->Reap(discard, 64) > 0) {
  }
}

void Runtime::SetSignalHandler(int signo, std::function<void()> handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (signo == SIGHUP)
    sighup_handler_ = std::move(handler);
  else if (signo == SIGUSR1)
    sigusr1_handler_ = std::move(handler);
  else if (signo == SIGTERM || signo == SIGINT)
    stop_handler_ = std::move(handler);
  else
    RP_CHECK_MSG(false, "only SIGHUP, SIGUSR1 and SIGTERM/SIGINT take handlers");
}

void Runtime::HandleSignal(int signo) {
  const bool stop = signo == SIGTERM || signo == SIGINT;
  std::function<void()> handler;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    handler = stop ? stop_handler_ : signo == SIGHUP ? sighup_handler_ : sigusr1_handler_;
  }
  if (stop) {
    RP_LOG(kInfo) << "received " << strsignal(signo) << ": stopping";
    if (handler && !stop_requested()) handler();
    RequestStop();
    return;
  }
  if (handler) handler();
}

}  // namespace ringpost::core
