// ringpost-sink's SMTP server side: a small, fast, deliberately lenient server that
// counts, optionally records, and injects the faults of its FaultConfig.
//
// One SinkService per shard (owns the shard's PRNG, per-recipient fault memory and
// message numbering); one SinkSession per connection. The protocol pieces are the
// project's sans-I/O engines (LineAssembler, ParseCommand, DataReader), so the sink
// also exercises them under load. Pipelining is natural: input is processed in order
// and replies queue on the connection, leaving in one send per loop turn. A delayed
// reply (--data_delay_ms) holds the rest of the input, with its receive buffers, until
// the reply has gone.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "net/transport/connection_table.h"
#include "tools/sink/sink_config.h"
#include "tools/sink/sink_stats.h"

namespace ringpost::sink {

class SinkService final : public net::Service {
 public:
  SinkService(const SinkConfig& config, SinkCounters& counters, SinkShared& shared, int shard_id);
  std::unique_ptr<net::Session> NewSession(net::Connection& connection) override;
  void RejectOverLimit(int fd) override;

  const SinkConfig& config() const { return config_; }
  SinkCounters& counters() { return counters_; }
  SinkShared& shared() { return shared_; }
  // True with probability `rate`.
  bool Chance(double rate);
  // How many times this recipient has been tempfailed by the pattern fault so far.
  uint32_t& TempfailCount(const std::string& recipient) { return tempfail_counts_[recipient]; }
  std::string NextMessageName();

 private:
  const SinkConfig& config_;
  SinkCounters& counters_;
  SinkShared& shared_;
  const int shard_id_;
  std::mt19937_64 rng_;
  uint64_t next_message_ = 0;
  absl::flat_hash_map<std::string, uint32_t> tempfail_counts_;
};

}  // namespace ringpost::sink
