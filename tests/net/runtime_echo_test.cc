// The runtime over real sockets on loopback: the echo service (tests/net/
// echo_service.h) on 2 shards, driven by a separate client process
// (ringpost-echo-client), so the kernel, the rings and the buffer pools are all real.
#include <csignal>
#include <map>
#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace ringpost::testing {
namespace {

using std::chrono::milliseconds;

struct ShardCounters {
  uint64_t accepted = 0;
  uint64_t enobufs = 0;
  uint64_t cap_pauses = 0;
};

class EchoServer {
 public:
  explicit EchoServer(std::vector<std::string> extra_flags) {
    std::vector<std::string> argv = {BuildPath("tests/ringpost-echo-server"), "--shards=2",
                                     "--listen=127.0.0.1:0"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    process_ = std::make_unique<Subprocess>(argv);
    std::optional<std::string> line = process_->WaitForLine("listening ", milliseconds(10000));
    if (line) address_ = line->substr(line->find(' ') + 1);
  }
  const std::string& address() const { return address_; }
  // SIGTERM, then the per-shard counters it prints on the way out.
  std::map<int, ShardCounters> Stop(int* exit_status) {
    process_->Signal(SIGTERM);
    const std::string output = process_->ReadAll(milliseconds(15000));
    *exit_status = process_->Wait(milliseconds(5000)).value_or(-999);
    std::map<int, ShardCounters> counters;
    const std::regex line(R"(shard (\d+) accepted=(\d+) .*enobufs=(\d+) cap_pauses=(\d+))");
    for (std::sregex_iterator it(output.begin(), output.end(), line), end; it != end; ++it) {
      counters[std::stoi((*it)[1])] = {std::stoull((*it)[2]), std::stoull((*it)[3]), std::stoull((*it)[4])};
    }
    EXPECT_NE(output.find("exited cleanly"), std::string::npos) << output;
    return counters;
  }
  Subprocess& process() { return *process_; }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string address_;
};

std::vector<std::string> Client(const std::string& address, std::vector<std::string> flags) {
  std::vector<std::string> argv = {BuildPath("tests/ringpost-echo-client"), "--target=" + address};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

TEST(RuntimeEchoTest, TwoThousandConcurrentConnectionsOnTwoShards) {
  EchoServer server({});
  ASSERT_FALSE(server.address().empty());
  auto [status, output] =
      RunCommand(Client(server.address(), {"--connections=2000", "--bytes=8192"}), milliseconds(120000));
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("connections=2000 bytes_verified=16384000"), std::string::npos) << output;
  int exit_status = -1;
  auto shards = server.Stop(&exit_status);
  EXPECT_EQ(exit_status, 0);
  ASSERT_EQ(shards.size(), 2u);
  // SO_REUSEPORT spreads connections by hash: both shards must have served some.
  EXPECT_GT(shards[0].accepted, 0u);
  EXPECT_GT(shards[1].accepted, 0u);
  EXPECT_EQ(shards[0].accepted + shards[1].accepted, 2000u);
  std::printf("connection split: shard 0 %llu, shard 1 %llu\n", (unsigned long long)shards[0].accepted,
              (unsigned long long)shards[1].accepted);
}

TEST(RuntimeEchoTest, ShutdownWithConnectionsOpenIsClean) {
  EchoServer server({});
  ASSERT_FALSE(server.address().empty());
  Subprocess client(Client(server.address(), {"--connections=300", "--bytes=1000", "--wait_for_close"}));
  ASSERT_TRUE(client.WaitForLine("all verified", milliseconds(30000))) << client.transcript();
  int exit_status = -1;
  auto shards = server.Stop(&exit_status);
  EXPECT_EQ(exit_status, 0);  // a graceful stop exits 0 with connections open
  const std::string rest = client.ReadAll(milliseconds(15000));
  EXPECT_EQ(client.Wait(milliseconds(5000)), 0) << rest;
  EXPECT_NE(rest.find("closed_by_server=300 errors=0"), std::string::npos) << rest;
}

TEST(RuntimeEchoTest, BufferRingExhaustionResumesWithoutLoss) {
  // 16 buffers of 4 KiB per shard and a share equal to the ring: clients that stop
  // reading make the server hold every buffer (echo sends straight from them), so
  // the kernel answers -ENOBUFS; once they read again, receiving must resume with
  // every byte in place.
  EchoServer server({"--buffer_count=16", "--buffer_bytes=4096", "--loans_per_connection=16"});
  ASSERT_FALSE(server.address().empty());
  auto [status, output] =
      RunCommand(Client(server.address(), {"--connections=4", "--bytes=33554432", "--stall_ms=1500"}),
                 milliseconds(120000));
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("bytes_verified=134217728"), std::string::npos) << output;
  int exit_status = -1;
  auto shards = server.Stop(&exit_status);
  EXPECT_EQ(exit_status, 0);
  EXPECT_GT(shards[0].enobufs + shards[1].enobufs, 0u) << "the ring never ran dry";
  std::printf("ENOBUFS back-pressure events: shard 0 %llu, shard 1 %llu\n",
              (unsigned long long)shards[0].enobufs, (unsigned long long)shards[1].enobufs);
}

TEST(RuntimeEchoTest, OneGreedyConnectionIsCappedAtItsShare) {
  EchoServer server({"--buffer_count=256", "--buffer_bytes=4096", "--loans_per_connection=4"});
  ASSERT_FALSE(server.address().empty());
  auto [status, output] =
      RunCommand(Client(server.address(), {"--connections=2", "--bytes=16777216", "--stall_ms=1000"}),
                 milliseconds(120000));
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("bytes_verified=33554432"), std::string::npos) << output;
  int exit_status = -1;
  auto shards = server.Stop(&exit_status);
  EXPECT_EQ(exit_status, 0);
  EXPECT_GT(shards[0].cap_pauses + shards[1].cap_pauses, 0u);
}

}  // namespace
}  // namespace ringpost::testing
