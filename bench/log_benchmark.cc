// The queue log against the disk it runs on, in one binary and one run:
//   BM_Crc32c/<bytes>               the record checksum's speed
//   BM_ReadMessage/<bytes>          a queued message read back (envelope and body)
//   BM_Disk_SingleWriterFdatasync   append 1 KiB + fdatasync, one writer (the no-batching floor)
//   BM_Disk_BufferedSequentialWrite 1 MiB buffered writes of 256 MiB files, each file
//                                   synced once at its end (`dd conv=fdatasync`: what the
//                                   disk sustains, the bandwidth ceiling)
//   BM_Log_Commit/bytes:N/warm:W/heads:H durable commits through LogWriter on one shard's ring,
//                                   64 producers each waiting for its own durable notice;
//                                   warm:1 on a spool whose delivered segments left files
//                                   for reuse (the steady state: recycled segments)
//   BM_Log_Commit100KiBVersusBuffered/heads:H  the 100 KiB commits (fresh and warm spool) against
//                                   buffered writes of the same bytes, in back-to-back
//                                   runs: the ratio per pair
// Targets: 1 KiB commits ≥ 8× the single-writer sync rate; 100 KiB commits
// ≥ 80% of the buffered write bandwidth. Files go to $RINGPOST_BENCH_DIR (default ./var/bench,
// the same file system as the default spool).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/runtime.h"
#include "queue/crc32c.h"
#include "queue/log_reader.h"
#include "queue/log_writer.h"
#include "tests/support/segment_builder.h"

namespace {

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("RINGPOST_BENCH_DIR");
  const std::string dir = std::string(base ? base : "./var/bench") + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The checksum every record write and every body read pays, per byte.
void BM_Crc32c(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'c');
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = ringpost::queue::Crc32cExtend(crc, data.data(), data.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(ringpost::queue::Crc32cIsHardware() ? "sse4.2" : "table");
}
BENCHMARK(BM_Crc32c)->Arg(1024)->Arg(100 * 1024);

// Reading a queued message back for delivery, from the page cache: the commit record,
// then the body in the 16 KiB records the SMTP engine writes, every CRC checked.
void BM_ReadMessage(benchmark::State& state) {
  const std::string path = BenchDir("read") + "/00000001.log";
  ringpost::testing::SegmentBuilder builder(/*generation=*/9);
  const std::string body(static_cast<size_t>(state.range(0)), 'r');
  const ringpost::queue::Envelope written = builder.AddMessage("0000000000001", body, 16 * 1024);
  const uint64_t commit_offset = written.body.back().offset + written.body.back().bytes;  // right after
  {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (write(fd, builder.bytes().data(), builder.bytes().size()) !=
        static_cast<ssize_t>(builder.bytes().size()))
      state.SkipWithError("write");
    close(fd);
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string read;  // reused, as delivery reuses its body buffers
  for (auto _ : state) {
    auto envelope = ringpost::queue::ReadEnvelopeAt(fd, path, commit_offset);
    if (!envelope.ok()) {
      state.SkipWithError(std::string(envelope.status().message()).c_str());
      break;
    }
    if (!ringpost::queue::ReadBodyInto(fd, path, ringpost::queue::BodyOf(*envelope), &read).ok() || read.size() != body.size()) {
      state.SkipWithError("body");
      break;
    }
    benchmark::DoNotOptimize(read.data());
  }
  close(fd);
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ReadMessage)->Arg(1024)->Arg(100 * 1024);

void BM_Disk_SingleWriterFdatasync(benchmark::State& state) {
  const std::string dir = BenchDir("fdatasync");
  const int fd = open((dir + "/file").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const std::string block(1024, 'x');
  for (auto _ : state) {
    if (write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
  }
  close(fd);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Disk_SingleWriterFdatasync)->UseRealTime()->MinTime(2.0);

// The same single-writer loop on a file whose blocks are already allocated: by
// fallocate (unwritten extents: each first write still converts them), or by having
// been written and synced before (what recycling a finished segment would give).
void SyncLoopOn(benchmark::State& state, int fd) {
  const std::string block(1024, 'x');
  off_t offset = 0;
  for (auto _ : state) {
    if (pwrite(fd, block.data(), block.size(), offset) != static_cast<ssize_t>(block.size()) ||
        fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
    offset = (offset + static_cast<off_t>(block.size())) % (64 << 20);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Disk_SingleWriterFdatasyncPreallocated(benchmark::State& state) {
  const std::string dir = BenchDir("fallocate");
  const int fd = open((dir + "/file").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fallocate(fd, 0, 0, 64 << 20) != 0) state.SkipWithError("fallocate failed");
  fsync(fd);
  SyncLoopOn(state, fd);
  close(fd);
}
BENCHMARK(BM_Disk_SingleWriterFdatasyncPreallocated)->UseRealTime()->MinTime(2.0);

void BM_Disk_SingleWriterFdatasyncOverwrite(benchmark::State& state) {
  const std::string dir = BenchDir("overwrite");
  const int fd = open((dir + "/file").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const std::string chunk(1 << 20, 'o');
  for (int i = 0; i < 64; ++i) {
    if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size()))
      state.SkipWithError("fill");
  }
  fsync(fd);
  SyncLoopOn(state, fd);
  close(fd);
}
BENCHMARK(BM_Disk_SingleWriterFdatasyncOverwrite)->UseRealTime()->MinTime(2.0);

void BM_Disk_BufferedSequentialWrite(benchmark::State& state) {
  const std::string dir = BenchDir("sequential");
  const std::string block(1 << 20, 'x');
  int64_t bytes = 0;
  int file = 0;
  for (auto _ : state) {
    // A fresh 256 MiB file at a time, so the page cache does not just absorb it.
    const int fd = open((dir + "/file" + std::to_string(file++ % 4)).c_str(),
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    for (int i = 0; i < 256; ++i) {
      if (write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
        state.SkipWithError("write failed");
        break;
      }
      bytes += static_cast<int64_t>(block.size());
    }
    fdatasync(fd);  // without it this measures the page cache, not the disk
    close(fd);
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_Disk_BufferedSequentialWrite)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(8);

// One pass of `count` durable commits of `body_bytes` each through a LogWriter on one
// shard's ring, `producers` in flight, each starting the next only after its durable
// notice. Returns false (with `error`) when the log failed.
// `spool.finish` models deliveries that keep up with the flow: each message is finished
// as soon as it is durable, so sealed segments become free files for reuse, which a
// later pass on the same `spool.dir` (a warm spool) writes into.
struct Spool {
  std::string dir;      // "" : a fresh one
  bool finish = false;  // MessageFinished once durable
};
bool CommitPass(size_t body_bytes, int count, std::string* error, uint64_t* syncs = nullptr,
                const Spool& spool = {}, uint64_t* recycled = nullptr, uint32_t heads = 1) {
  using namespace ringpost;
  const int producers = 64;
  const std::string body(body_bytes, 'b');
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    queue::LogWriterOptions writer_options;
    writer_options.shard_dir = spool.dir.empty() ? BenchDir("log") + "/shard-0" : spool.dir;
    writer_options.heads = heads;
    auto& writer = shard.Make<queue::LogWriter>(shard, writer_options);
    RP_RETURN_IF_ERROR(writer.Start());
    auto remaining = std::make_shared<int>(count);
    auto done_count = std::make_shared<int>(0);
    auto* next = &shard.Make<std::function<void()>>();  // owned by the shard: no self-reference
    *next = [&, remaining, done_count, next] {
      if (*remaining == 0) return;
      --*remaining;
      absl::StatusOr<uint64_t> begun = writer.BeginMessage();
      if (!begun.ok()) return;  // the free-space reserve is not set here
      const uint64_t message = *begun;
      (void)writer.AppendBody(message, body);
      queue::Envelope envelope;
      envelope.queue_id = "0000000000000";
      envelope.recipients.push_back({"r@example.org", ""});
      writer.Commit(
          message, envelope,
          [&, done_count, next](const absl::Status& committed, const queue::MessageLocation& location) {
            if (committed.ok() && spool.finish) writer.MessageFinished(location.segment);
            if (++*done_count == count) {
              if (syncs != nullptr) *syncs = writer.stats().syncs;
              if (recycled != nullptr) *recycled = writer.stats().segments_recycled;
              return shard.runtime().RequestStop();
            }
            (*next)();
          });
    };
    for (int p = 0; p < producers; ++p) (*next)();
    return absl::OkStatus();
  });
  if (!status.ok()) *error = std::string(status.message());
  return status.ok();
}

// A spool that has been running: a pass whose messages were all delivered left its
// sealed segments as free files. The segments a pass leaves behind unfinished (its
// heads) are then reclaimed as they would be once their mail went: kept for reuse
// while the writer's pool has room (LogWriterOptions::recycled_files_max), else deleted.
void DropUnfinishedSegments(const std::string& dir) {
  const uint32_t pool = ringpost::queue::LogWriterOptions{}.recycled_files_max;
  uint32_t free_files = 0;
  std::vector<std::filesystem::path> unfinished;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".free") ++free_files;
    if (entry.path().extension() == ".log") unfinished.push_back(entry.path());
  }
  for (const auto& path : unfinished) {
    if (free_files < pool) {
      std::filesystem::rename(path, std::filesystem::path(path).replace_extension(".free"));
      ++free_files;
    } else {
      std::filesystem::remove(path);
    }
  }
}
std::string WarmSpool(size_t body_bytes, int count, uint32_t heads) {
  const std::string dir = BenchDir("warm") + "/shard-0";
  std::string error;
  CommitPass(body_bytes, count, &error, nullptr, Spool{dir, true}, nullptr, heads);
  DropUnfinishedSegments(dir);
  return dir;
}

int CommitsPerPass(size_t body_bytes) { return body_bytes > 10000 ? 2000 : 20000; }

// warm:0 on a fresh spool (every segment a new file); warm:1 on a warm one, the steady
// state of a running MTA whose deliveries keep up: each message is finished once
// durable and new segments go into the recycled files of finished ones. heads: 1 or 2
// head segments (--log_heads).
void BM_Log_Commit(benchmark::State& state) {
  const size_t body_bytes = static_cast<size_t>(state.range(0));
  const bool warm = state.range(1) != 0;
  const uint32_t heads = static_cast<uint32_t>(state.range(2));
  const std::string dir = warm ? WarmSpool(body_bytes, CommitsPerPass(body_bytes), heads) : "";
  int64_t commits = 0;
  uint64_t recycled_total = 0;
  for (auto _ : state) {
    std::string error;
    uint64_t recycled = 0;
    if (warm) DropUnfinishedSegments(dir);
    if (!CommitPass(body_bytes, CommitsPerPass(body_bytes), &error, nullptr, Spool{dir, warm}, &recycled,
                    heads))
      state.SkipWithError(error.c_str());
    commits += CommitsPerPass(body_bytes);
    recycled_total += recycled;
  }
  state.SetItemsProcessed(commits);
  state.SetBytesProcessed(commits * static_cast<int64_t>(body_bytes));
  state.counters["recycled_segments_per_pass"] =
      static_cast<double>(recycled_total) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Log_Commit)
    ->ArgsProduct({{1024, 100 * 1024}, {0, 1}, {1, 2}})
    ->ArgNames({"bytes", "warm", "heads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// The 100 KiB target as a ratio measured in pairs: each iteration writes the same bytes
// as plain buffered sequential writes into fresh 64 MiB files each synced at its end
// (the bandwidth ceiling, laid out like segments), and right after as durable commits,
// so the disk's drift over a run (it varies 3x here) hits both sides of a pair alike.
// The commits run twice: on a fresh spool (every segment a new file, `ratio_*`) and
// on a warm one (segments reuse finished files, the steady state: `warm_ratio_*`).
// A last pass writes the same bytes as the best case of a log on new files with 64
// producers that each wait for their own durable notice: one writer, batches of
// 64 x 100 KiB, each batch synced (no log, no records, no ring): `ideal_ratio_median`
// is what that reaches against the ceiling, `commit_vs_ideal_median` how close the
// fresh-spool log comes to it. `heads`: LogWriterOptions::heads (--log_heads).
void BM_Log_Commit100KiBVersusBuffered(benchmark::State& state) {
  const size_t body_bytes = 100 * 1024;
  const int count = CommitsPerPass(body_bytes);
  const uint64_t total = uint64_t{body_bytes} * static_cast<uint64_t>(count);
  const std::string block(1 << 20, 'x');
  const uint32_t heads = static_cast<uint32_t>(state.range(0));
  const std::string warm_dir = WarmSpool(body_bytes, count, heads);
  std::vector<double> ratios, warm_ratios, ideal_ratios, versus_ideal;
  uint64_t syncs_total = 0, recycled_total = 0;
  double commit_seconds_total = 0;
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
  };
  for (auto _ : state) {
    const std::string dir = BenchDir("pair");
    const auto t0 = Clock::now();
    uint64_t written = 0;
    for (int file = 0; written < total; ++file) {
      const int fd = open((dir + "/file" + std::to_string(file)).c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      for (int i = 0; i < 64 && written < total; ++i) {
        if (write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()))
          state.SkipWithError("write");
        written += block.size();
      }
      fdatasync(fd);
      close(fd);
    }
    const auto t1 = Clock::now();
    std::string error;
    uint64_t syncs = 0, recycled = 0;
    if (!CommitPass(body_bytes, count, &error, &syncs, Spool{}, nullptr, heads))
      state.SkipWithError(error.c_str());
    const auto t2 = Clock::now();
    DropUnfinishedSegments(warm_dir);
    const auto t3 = Clock::now();
    if (!CommitPass(body_bytes, count, &error, nullptr, Spool{warm_dir, true}, &recycled, heads))
      state.SkipWithError(error.c_str());
    const auto t4 = Clock::now();
    // The best case of group commit at 64 producers: 6.4 MiB batches, each synced.
    const std::string batch_dir = BenchDir("batched");
    const std::string batch(body_bytes * 64, 'b');
    uint64_t batched = 0;
    for (int file = 0; batched < total; ++file) {
      const int fd = open((batch_dir + "/file" + std::to_string(file)).c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      for (uint64_t in_file = 0; in_file < (64u << 20) && batched < total; in_file += batch.size()) {
        if (write(fd, batch.data(), batch.size()) != static_cast<ssize_t>(batch.size()) || fdatasync(fd) != 0)
          state.SkipWithError("batched write");
        batched += batch.size();
      }
      close(fd);
    }
    const auto t5 = Clock::now();
    syncs_total += syncs;
    recycled_total += recycled;
    commit_seconds_total += seconds(t1, t2);
    const double buffered_bps = static_cast<double>(written) / seconds(t0, t1);
    const double commit_bps = static_cast<double>(total) / seconds(t1, t2);
    const double warm_bps = static_cast<double>(total) / seconds(t3, t4);
    const double ideal_bps = static_cast<double>(batched) / seconds(t4, t5);
    ratios.push_back(commit_bps / buffered_bps);
    warm_ratios.push_back(warm_bps / buffered_bps);
    ideal_ratios.push_back(ideal_bps / buffered_bps);
    versus_ideal.push_back(commit_bps / ideal_bps);
  }
  for (auto* v : {&ratios, &warm_ratios, &ideal_ratios, &versus_ideal}) std::sort(v->begin(), v->end());
  const double passes = static_cast<double>(ratios.size());
  state.counters["ratio_median"] = ratios[ratios.size() / 2];
  state.counters["ratio_min"] = ratios.front();
  state.counters["warm_ratio_median"] = warm_ratios[warm_ratios.size() / 2];
  state.counters["warm_ratio_min"] = warm_ratios.front();
  state.counters["warm_recycled_per_pass"] = static_cast<double>(recycled_total) / passes;
  state.counters["ideal_ratio_median"] = ideal_ratios[ideal_ratios.size() / 2];
  state.counters["commit_vs_ideal_median"] = versus_ideal[versus_ideal.size() / 2];
  // The flush-bound model: each fdatasync costs about a fixed flush, so the commit pass
  // is syncs x (time per sync); these two say how many and how long.
  state.counters["syncs_per_pass"] = static_cast<double>(syncs_total) / passes;
  state.counters["ms_per_sync"] =
      commit_seconds_total * 1000 / static_cast<double>(std::max<uint64_t>(syncs_total, 1));
}
BENCHMARK(BM_Log_Commit100KiBVersusBuffered)
    ->ArgName("heads")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(7);

}  // namespace

BENCHMARK_MAIN();
