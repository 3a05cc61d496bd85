// Outbound SMTP sessions on the real runtime against real servers on loopback:
// ringpost-sink (with its fault injection) and Postfix's smtp-sink. The session runs in
// this process on a one-shard Runtime; the servers are child processes.
#include "net/outbound/smtp_client_session.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/runtime.h"
#include "gtest/gtest.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/subprocess.h"

namespace ringpost::net {
namespace {

using std::chrono::milliseconds;
using testing::BuildPath;
using testing::Subprocess;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Sink {
  explicit Sink(std::vector<std::string> flags) {
    std::vector<std::string> argv = {BuildPath("tools/ringpost-sink"), "--listen=127.0.0.1:0", "--shards=1"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    process = std::make_unique<Subprocess>(argv);
    auto line = process->WaitForLine("listening ", milliseconds(10000));
    if (line) address = line->substr(line->find(' ') + 1);
  }
  std::unique_ptr<Subprocess> process;
  std::string address;
};

// A port nothing listens on right now: bound to 127.0.0.1:0, read, released.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(address.sin_port);
}

// True once a connect to 127.0.0.1:port succeeds, false at the deadline.
bool WaitUntilListening(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool listening = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(fd);
    if (listening) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

class NoInbound : public Service {
 public:
  std::unique_ptr<Session> NewSession(Connection&) override { return nullptr; }
};

// Delivers `messages` one after another over one connection, then QUIT; stops the
// runtime when the session is closed.
struct Delivery : OutboundOwner {
  std::vector<OutboundMessage> messages;
  size_t next = 0;
  std::vector<std::vector<RecipientResult>> results;
  std::string closed_reason;
  int closed = 0;
  core::Shard* shard = nullptr;
  std::function<void(OutboundSession&, OutboundMessage&)> before_deliver;  // optional
  std::vector<std::string> returned_bodies;                                // OnBodyReturned

  void OnReady(OutboundSession& session) override {
    if (next >= messages.size()) return session.Quit();
    OutboundMessage message = messages[next++];
    if (before_deliver) before_deliver(session, message);
    session.Deliver(std::move(message));
  }
  void OnMessageDone(OutboundSession&, std::vector<RecipientResult> r) override {
    results.push_back(std::move(r));
  }
  void OnBodyReturned(OutboundSession&, std::string body) override {
    returned_bodies.push_back(std::move(body));
  }
  void OnSessionClosed(OutboundSession&, const std::string& reason) override {
    closed_reason = reason;
    ++closed;
    shard->runtime().RequestStop();
  }
};

void Deliver(const std::string& address, Delivery& run,
             core::MonoNanos reply_timeout = 10 * core::kNanosPerSecond) {
  OutboundSessionOptions options;
  options.client.helo_name = "client.ringpost.test";
  options.reply_timeout_nanos = reply_timeout;
  core::RuntimeOptions runtime_options;
  runtime_options.shards = 1;
  runtime_options.pin_threads = false;
  runtime_options.shard.recv_buffer_count = 64;
  core::Runtime runtime(runtime_options);
  auto target = core::ParseSocketAddress(address);
  ASSERT_TRUE(target.ok()) << address;
  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    run.shard = &shard;
    auto& service = shard.Make<NoInbound>();
    auto& table = shard.Make<ConnectionTable>(shard, service, ConnectionTableOptions{});
    if (table.Connect(*target, std::make_unique<OutboundSession>(run, options)) == nullptr) {
      return absl::UnavailableError("no connection slot");
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
}

OutboundMessage Message(std::string body, std::vector<std::string> recipients = {"r1@example.net"}) {
  OutboundMessage m;
  m.mail_from = "sender@example.org";
  m.recipients = std::move(recipients);
  m.body = std::move(body);
  return m;
}

TEST(OutboundSessionTest, DeliversSeveralMessagesOnOneConnectionToRingpostSink) {
  const testing::ScratchDir scratch("outbound-sink");
  const std::string& dir = scratch.path();
  Sink sink({"--record_dir=" + dir});
  ASSERT_FALSE(sink.address.empty());
  Delivery run;
  run.messages.push_back(Message("Subject: one\r\n\r\n.leading dot\r\n", {"a@example.net", "b@example.net"}));
  run.messages.push_back(Message("Subject: two\r\n\r\nbare\nline feeds\n"));
  run.messages.push_back(Message("Subject: three\r\n\r\nlast\r\n"));
  Deliver(sink.address, run);
  ASSERT_EQ(run.results.size(), 3u) << run.closed_reason;
  for (const auto& r : run.results) {
    for (const auto& one : r) EXPECT_EQ(one.code, 250) << one.Summary();
  }
  EXPECT_EQ(run.results[0].size(), 2u);
  EXPECT_EQ(run.closed, 1);
  sink.process->Signal(SIGTERM);
  EXPECT_EQ(sink.process->Wait(milliseconds(10000)), 0);
  // The sink recorded each body as sent: dots unstuffed again, bare LFs made CRLF.
  EXPECT_EQ(ReadFile(dir + "/S0-1.eml"), "Subject: one\r\n\r\n.leading dot\r\n");
  EXPECT_EQ(ReadFile(dir + "/S0-2.eml"), "Subject: two\r\n\r\nbare\r\nline feeds\r\n");
  EXPECT_EQ(ReadFile(dir + "/S0-3.eml"), "Subject: three\r\n\r\nlast\r\n");
  EXPECT_NE(ReadFile(dir + "/S0-1.json").find("\"rcpt_to\":[\"a@example.net\",\"b@example.net\"]"),
            std::string::npos);
}

// RFC 3030 §2: a chunk of 16 KiB or more leaves from the body's own buffer, which the
// connection borrows instead of copying; once sent, the buffer goes back to the owner
// for the next message's body.
TEST(OutboundSessionTest, BdatBodiesLeaveFromTheirOwnBufferWhichComesBackOnceSent) {
  const testing::ScratchDir scratch("outbound-bdat");
  const std::string& dir = scratch.path();
  Sink sink({"--record_dir=" + dir});
  ASSERT_FALSE(sink.address.empty());
  Delivery run;
  std::vector<std::string> bodies;
  for (char fill : {'a', 'b', 'c'}) {
    bodies.push_back(
        absl::StrCat("Subject: ", std::string(1, fill), "\r\n\r\n", std::string(40000, fill), "\r\n"));
    run.messages.push_back(Message(bodies.back()));
  }
  std::vector<const char*> sent, returned;
  run.before_deliver = [&](OutboundSession&, OutboundMessage& message) {
    std::string spare;
    if (!run.returned_bodies.empty()) {
      spare = std::move(run.returned_bodies.back());
      run.returned_bodies.pop_back();
    }
    returned.push_back(spare.empty() ? nullptr : spare.data());
    spare.assign(message.body);  // within its capacity: the same buffer
    message.body = std::move(spare);
    sent.push_back(message.body.data());
  };
  Deliver(sink.address, run);
  ASSERT_EQ(run.results.size(), 3u) << run.closed_reason;
  for (const auto& r : run.results) EXPECT_EQ(r[0].code, 250) << r[0].Summary();
  EXPECT_EQ(returned, (std::vector<const char*>{nullptr, sent[0], sent[1]}));
  sink.process->Signal(SIGTERM);
  EXPECT_EQ(sink.process->Wait(milliseconds(10000)), 0);
  for (size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(ReadFile(absl::StrCat(dir, "/S0-", i + 1, ".eml")), bodies[i]) << i;
  }
}

TEST(OutboundSessionTest, RefusalsAreReportedPerRecipient) {
  Sink sink({"--rcpt_permfail_rate=1"});
  Delivery run;
  run.messages.push_back(Message("x\r\n", {"a@example.net", "b@example.net"}));
  Deliver(sink.address, run);
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0][0].code, 550);
  EXPECT_EQ(run.results[0][1].enhanced, "5.1.1");
}

TEST(OutboundSessionTest, SilenceAfterTheFinalDotIsAPossibleDuplicate) {
  Sink sink({"--silent_after_data_rate=1"});
  Delivery run;
  run.messages.push_back(Message("x\r\n"));
  Deliver(sink.address, run, /*reply_timeout=*/500 * core::kNanosPerMilli);
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0][0].code, 0);
  EXPECT_TRUE(run.results[0][0].possible_duplicate);
  EXPECT_EQ(run.closed_reason, "timed out waiting for a reply");
}

TEST(OutboundSessionTest, DeliversToPostfixSmtpSink) {
  if (!std::filesystem::exists("/usr/sbin/smtp-sink")) GTEST_SKIP() << "postfix not installed";
  const int port = FreePort();  // smtp-sink cannot listen on port 0
  const std::string address = "127.0.0.1:" + std::to_string(port);
  Subprocess smtp_sink({"/usr/sbin/smtp-sink", "-u", "nobody", address, "64"}, /*merge_stderr=*/true);
  ASSERT_TRUE(WaitUntilListening(port, std::chrono::seconds(10))) << smtp_sink.transcript();
  Delivery run;
  run.messages.push_back(Message("Subject: postfix\r\n\r\nhello\r\n", {"a@example.net"}));
  run.messages.push_back(Message("Subject: again\r\n\r\n.dot\r\n", {"b@example.net", "c@example.net"}));
  Deliver(address, run);
  ASSERT_EQ(run.results.size(), 2u) << run.closed_reason;
  EXPECT_EQ(run.results[0][0].code, 250);
  EXPECT_EQ(run.results[1][1].code, 250);
}

// A server whose SIZE refuses everything: the session refuses each message locally, and
// an owner that delivers its whole queue from OnReady must not recurse once per message.
TEST(OutboundSessionTest, ManyLocallyRefusedMessagesDoNotGrowTheStack) {
  const testing::ScratchDir scratch("outbound-size1");
  const std::string& dir = scratch.path();
  std::ofstream(dir + "/server.py") << R"PY(
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print("listening 127.0.0.1:%d" % s.getsockname()[1], flush=True)
c, _ = s.accept(); f = c.makefile("rb")
c.sendall(b"220 tiny ESMTP\r\n")
for line in f:
    verb = line[:4].upper()
    if verb == b"EHLO": c.sendall(b"250-tiny\r\n250-PIPELINING\r\n250 SIZE 1\r\n")
    elif verb == b"QUIT": c.sendall(b"221 bye\r\n"); break
    else: c.sendall(b"500 unexpected\r\n")
)PY";
  Subprocess server({"/usr/bin/python3", dir + "/server.py"});
  auto line = server.WaitForLine("listening ", milliseconds(10000));
  ASSERT_TRUE(line.has_value());
  Delivery run;
  for (int i = 0; i < 200000; ++i) run.messages.push_back(Message("too big\r\n"));
  Deliver(line->substr(line->find(' ') + 1), run);
  ASSERT_EQ(run.results.size(), 200000u) << run.closed_reason;
  EXPECT_EQ(run.results.back()[0].Summary(), "552 5.3.4 message size exceeds the next hop's fixed limit");
  EXPECT_EQ(run.closed, 1);
}

TEST(OutboundSessionTest, AConnectionRefusedClosesTheSessionWithItsReason) {
  const int port = FreePort();  // nothing listens there
  Delivery run;
  run.messages.push_back(Message("x\r\n"));
  Deliver("127.0.0.1:" + std::to_string(port), run);
  EXPECT_TRUE(run.results.empty());
  EXPECT_EQ(run.closed, 1);
  EXPECT_EQ(run.closed_reason, "connect: Connection refused");  // one prefix, the errno's text
}

}  // namespace
}  // namespace ringpost::net
