// The ringpost daemon as operators run it: flags, start-up, the spool lock, the
// listeners, SIGTERM, and which TLS library the running process actually mapped.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/subprocess.h"

namespace ringpost::testing {
namespace {

using std::chrono::milliseconds;

std::string Ringpost() { return BuildPath("tools/ringpost"); }

// Starts the daemon on a free port and returns the port from its start-up line.
struct Daemon {
  explicit Daemon(const std::string& spool, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        Ringpost(), "--listen=127.0.0.1:0", "--shards=2", "--pin_threads=false", "--spool_dir=" + spool,
        "--hostname=mx.test.example", "--shutdown_grace=2s",
        // Accepted mail stays queued: DNS goes to a port where
        // nothing answers (a temporary failure, retried in 5m).
        "--dns_servers=127.0.0.1:9", "--accounting_log=" + spool + ".accounting.jsonl",
        "--maildir_root=" + spool + ".mail", "--metrics_listen=127.0.0.1:0", "--admin_socket=" + spool + ".admin.sock",
        // The default reserve (256 MiB free or 452) is for production: a test must not
        // fail because the build machine's disk is nearly full.
        "--spool_reserve_bytes=0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = std::make_unique<Subprocess>(argv, /*merge_stderr=*/true);
    start_line = process->WaitForLine("started:", milliseconds(10000)).value_or("");
    std::smatch m;
    if (std::regex_search(start_line, m, std::regex(R"(listen=127\.0\.0\.1:(\d+))"))) port = std::stoi(m[1]);
  }
  std::unique_ptr<Subprocess> process;
  std::string start_line;
  int port = 0;
};

std::string ReadGreeting(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return "";
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string reply;
  char buffer[512];
  ssize_t n;
  while (reply.find("\r\n") == std::string::npos && (n = read(fd, buffer, sizeof(buffer))) > 0) {
    reply.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

TEST(DaemonTest, BadFlagValueExitsNonZeroWithOneLineNamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--shards=many", "shards"},
      {"--listen=localhost", "--listen"},
      {"--shutdown_grace=soon", "shutdown_grace"},
      {"--dns_servers=not-an-ip", "--dns_servers"},
      {"--log_level=loud", "--log_level"},
      {"--log_heads=3", "--log_heads"},
      {"--no_such_flag=1", "no_such_flag"},
      // Checked with the flags, before any shard starts (not a crash in a shard).
      {"--recv_buffers=1000", "--recv_buffers: expected a power of two"},
      {"--long_lines=maybe", "--long_lines"},
      {"--node_id=9000", "--node_id"},
      {"--postmaster=nobody", "--postmaster"},
  };
  const ScratchDir scratch("ringpost-badflag");
  for (const auto& [flag, name] : cases) {
    auto [status, output] =
        RunCommand({Ringpost(), flag, "--spool_dir=" + scratch / "spool"}, milliseconds(10000));
    EXPECT_EQ(status, 1) << flag;
    EXPECT_NE(output.find(name), std::string::npos) << flag << ": " << output;
    // One line: the message, then nothing else.
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << flag << ": " << output;
  }
}

TEST(DaemonTest, HelpfullShowsTheOperatorFlags) {
  auto [status, output] = RunCommand({Ringpost(), "--helpfull"}, milliseconds(10000));
  (void)status;  // Abseil exits 1 after printing help
  for (const char* flag : {"--listen", "--shards", "--spool_dir", "--hostname", "--pin_threads",
                           "--shutdown_grace", "--max_connections", "--dns_servers", "--user", "--fsync",
                           "--segment_bytes", "--spool_reserve_bytes", "--metrics_listen"}) {
    EXPECT_NE(output.find(flag), std::string::npos) << flag;
  }
  // --fsync=false is labelled unsafe where operators look.
  const size_t fsync_help = output.find("--fsync");
  ASSERT_NE(fsync_help, std::string::npos);
  EXPECT_NE(output.substr(fsync_help, 400).find("UNSAFE"), std::string::npos);
}

TEST(DaemonTest, StartsPrintsOneLineAndStopsWithExitZeroOnSigterm) {
  const ScratchDir scratch("ringpost-start");
  const std::string spool = scratch / "spool";
  Daemon daemon(spool);
  ASSERT_GT(daemon.port, 0) << daemon.process->transcript();
  EXPECT_NE(daemon.start_line.find("shards=2"), std::string::npos) << daemon.start_line;
  EXPECT_NE(daemon.start_line.find("spool=" + spool), std::string::npos) << daemon.start_line;
  EXPECT_NE(daemon.start_line.find("fsync=on queue_live=0"), std::string::npos) << daemon.start_line;
  EXPECT_TRUE(std::filesystem::exists(spool + "/lock"));
  daemon.process->Signal(SIGTERM);
  EXPECT_EQ(daemon.process->Wait(milliseconds(10000)), 0) << daemon.process->ReadAll(milliseconds(100));
  EXPECT_TRUE(std::filesystem::exists(spool + "/shard-0"));  // each shard opened its queue log
  EXPECT_TRUE(std::filesystem::exists(spool + "/shard-1"));
}

TEST(DaemonTest, FsyncOffIsAnnouncedAsUnsafe) {
  const ScratchDir scratch("ringpost-nofsync");
  const std::string spool = scratch / "spool";
  Daemon daemon(spool, {"--fsync=false"});
  ASSERT_GT(daemon.port, 0) << daemon.process->transcript();
  EXPECT_NE(daemon.start_line.find("fsync=OFF-UNSAFE"), std::string::npos) << daemon.start_line;
  EXPECT_NE(daemon.process->transcript().find("UNSAFE, acknowledged mail can be lost"), std::string::npos);
  daemon.process->Signal(SIGTERM);
  EXPECT_EQ(daemon.process->Wait(milliseconds(10000)), 0);
}

TEST(DaemonTest, RestartsRecoverTheSpoolWithoutGrowingIt) {
  const ScratchDir scratch("ringpost-restart");
  const std::string spool = scratch / "spool";
  for (int run = 0; run < 3; ++run) {
    Daemon daemon(spool);
    ASSERT_GT(daemon.port, 0) << daemon.process->transcript();
    daemon.process->Signal(SIGTERM);
    ASSERT_EQ(daemon.process->Wait(milliseconds(10000)), 0);
  }
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(spool))
    files += entry.is_regular_file();
  EXPECT_LE(files, 3u);  // the lock and one segment per shard
  EXPECT_FALSE(std::filesystem::exists(spool + "/quarantine"));
}

TEST(DaemonTest, SecondDaemonOnTheSameSpoolExitsWithAClearMessage) {
  const ScratchDir scratch("ringpost-lock");
  const std::string spool = scratch / "spool";
  Daemon first(spool);
  ASSERT_GT(first.port, 0) << first.process->transcript();
  auto [status, output] =
      RunCommand({Ringpost(), "--listen=127.0.0.1:0", "--spool_dir=" + spool}, milliseconds(10000));
  EXPECT_EQ(status, 1);
  EXPECT_NE(output.find("locked by another ringpost"), std::string::npos) << output;
  first.process->Signal(SIGTERM);
  EXPECT_EQ(first.process->Wait(milliseconds(10000)), 0);
}

TEST(DaemonTest, ListenersGreetAndSwaksQueuesAMessage) {
  const ScratchDir scratch("ringpost-greet");
  const std::string spool = scratch / "spool";
  Daemon daemon(spool);
  ASSERT_GT(daemon.port, 0) << daemon.process->transcript();
  EXPECT_EQ(ReadGreeting(daemon.port), "220 mx.test.example ESMTP ringpost\r\n");  // RFC 5321 §4.3.1
  auto [status, output] = RunCommand({"swaks", "--server", "127.0.0.1", "--port", std::to_string(daemon.port),
                                      "--to", "user@example.org", "--timeout", "5"},
                                     milliseconds(20000));
  EXPECT_EQ(status, 0) << output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(output, m, std::regex(R"(250 2\.0\.0 Ok: queued as ([0-9A-Z]{15}))")))
      << output;
  const std::string id = m[1];
  // The accepted message is logged once, with its id.
  EXPECT_TRUE(daemon.process->WaitForLine("accepted id=" + id, milliseconds(5000)).has_value())
      << daemon.process->transcript();
  daemon.process->Signal(SIGTERM);
  EXPECT_EQ(daemon.process->Wait(milliseconds(10000)), 0);
  // And it waits in the queue, visible to the queue's reader.
  auto [list_status, listing] =
      RunCommand({BuildPath("tools/ringpost-queue"), "--spool_dir=" + spool, "list"}, milliseconds(20000));
  EXPECT_EQ(list_status, 0) << listing;
  EXPECT_NE(listing.find("\n" + id + " "), std::string::npos) << listing;
  EXPECT_NE(listing.find("\n1 job\n"), std::string::npos) << listing;
}

TEST(DaemonTest, TheRunningDaemonMapsBoringSslNotOpenSsl) {
  const ScratchDir scratch("ringpost-tls");
  const std::string spool = scratch / "spool";
  Daemon daemon(spool);
  ASSERT_GT(daemon.port, 0) << daemon.process->transcript();
  EXPECT_NE(daemon.start_line.find("tls_library=BoringSSL"), std::string::npos) << daemon.start_line;
  std::ifstream maps("/proc/" + std::to_string(daemon.process->pid()) + "/maps");
  std::stringstream text;
  text << maps.rdbuf();
  EXPECT_NE(text.str().find("/android/libssl.so"), std::string::npos);
  EXPECT_NE(text.str().find("/android/libcrypto.so"), std::string::npos);
  EXPECT_EQ(text.str().find("libssl.so.3"), std::string::npos);
  EXPECT_EQ(text.str().find("libcrypto.so.3"), std::string::npos);
  daemon.process->Signal(SIGTERM);
  EXPECT_EQ(daemon.process->Wait(milliseconds(10000)), 0);
}

}  // namespace
}  // namespace ringpost::testing
