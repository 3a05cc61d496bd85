// ringpost-blast and ringpost-sink against each other and against real SMTP clients
// (Python smtplib, swaks), all on loopback: counts match message by message, each
// injected fault yields its code at its rate, and recordings are byte-exact.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/subprocess.h"

namespace ringpost::testing {
namespace {

using std::chrono::milliseconds;
using Fields = std::map<std::string, uint64_t>;

// "a=1 b=2.5 ..." → {a:1, b:2, b_milli:2500}; "codes 250=9 451=1" → {code_250:9, code_451:1}.
Fields ParseFields(const std::string& line) {
  Fields fields;
  const std::regex pair(R"((\w+)=(\d+)(\.\d+)?)");
  bool in_codes = false;
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    if (word == "codes") {
      in_codes = true;
      continue;
    }
    std::smatch m;
    if (!std::regex_match(word, m, pair)) continue;
    const std::string key = (in_codes ? "code_" : "") + m[1].str();
    fields[key] = std::stoull(m[2]);
    fields[key + "_milli"] = static_cast<uint64_t>(std::stod(m[2].str() + m[3].str()) * 1000);
  }
  return fields;
}

class Sink {
 public:
  explicit Sink(std::vector<std::string> flags) {
    std::vector<std::string> argv = {BuildPath("tools/ringpost-sink"), "--listen=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    process_ = std::make_unique<Subprocess>(argv);
    auto line = process_->WaitForLine("listening ", milliseconds(10000));
    if (line) {
      address_ = line->substr(line->find(' ') + 1);
      port_ = address_.substr(address_.rfind(':') + 1);
    }
  }
  const std::string& address() const { return address_; }
  const std::string& port() const { return port_; }
  void SignalUsr1() { process_->Signal(SIGUSR1); }
  std::optional<std::string> ReadLine() { return process_->ReadLine(milliseconds(10000)); }
  Fields Stop() {
    process_->Signal(SIGTERM);
    auto line = process_->WaitForLine("connections", milliseconds(15000));
    EXPECT_EQ(process_->Wait(milliseconds(10000)), 0);
    return line ? ParseFields(*line) : Fields{};
  }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string address_, port_;
};

Fields Blast(const Sink& sink, std::vector<std::string> flags) {
  std::vector<std::string> argv = {BuildPath("tools/ringpost-blast"), "--target=" + sink.address(),
                                   "--progress=false"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto [status, output] = RunCommand(argv, milliseconds(120000));
  EXPECT_EQ(status, 0) << output;
  std::printf("blast: %s", output.c_str());
  const size_t summary = output.find("messages=");
  return summary == std::string::npos ? Fields{} : ParseFields(output.substr(summary));
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(LoadToolsTest, SinkCountsMatchWhatBlastSentMessageByMessage) {
  const testing::ScratchDir scratch("load-match");
  const std::string& dir = scratch.path();
  Sink sink({"--record_dir=" + dir + "/messages"});
  ASSERT_FALSE(sink.address().empty());
  Fields blast = Blast(sink, {"--messages=2000", "--connections=8", "--rcpts=2", "--domains=10",
                              "--size=512-4k", "--message_ids_out=" + dir + "/ids.txt"});
  Fields counts = sink.Stop();
  EXPECT_EQ(blast["accepted"], 2000u);
  EXPECT_EQ(blast["code_250"], 2000u);
  EXPECT_EQ(counts["messages"], 2000u);
  EXPECT_EQ(counts["recipients"], 4000u);
  EXPECT_EQ(counts["connections"], 8u);
  EXPECT_LE(counts["peak_connections"], 8u);
  // Every Message-ID blast saw accepted is in exactly one recorded message.
  std::set<std::string> sent;
  std::ifstream ids(dir + "/ids.txt");
  for (std::string id; std::getline(ids, id);) sent.insert(id);
  std::set<std::string> received;
  uint64_t bytes = 0;
  const std::regex message_id(R"(Message-ID: (<[^>]+>)\r\n)");
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/messages")) {
    if (entry.path().extension() != ".eml") continue;
    const std::string body = ReadFile(entry.path());
    bytes += body.size();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(body, m, message_id)) << entry.path();
    EXPECT_TRUE(received.insert(m[1]).second) << "duplicate " << m[1];
    // Dot-stuffed lines came through unstuffed: blast's bodies have lines starting with ".".
    if (body.size() > 1000) {
      EXPECT_NE(body.find("\r\n."), std::string::npos);
    }
  }
  EXPECT_EQ(sent.size(), 2000u);
  EXPECT_EQ(received, sent);
  EXPECT_EQ(bytes, counts["bytes"]);
}

TEST(LoadToolsTest, RcptAndDataFaultsYieldTheirCodesAtTheirRates) {
  {
    Sink sink({"--rcpt_tempfail_rate=0.2", "--seed=7"});
    Fields blast = Blast(sink, {"--messages=2000", "--connections=8"});
    Fields counts = sink.Stop();
    // Binomial(2000, 0.2): mean 400, sd 18; ±100 is over 5 sd.
    EXPECT_NEAR(static_cast<double>(blast["code_451"]), 400, 100);
    EXPECT_EQ(blast["refused"], blast["code_451"]);
    EXPECT_EQ(blast["accepted"] + blast["refused"], 2000u);
    EXPECT_EQ(counts["replies_4xx"], blast["code_451"]);
    EXPECT_EQ(counts["messages"], blast["accepted"]);
  }
  {
    Sink sink({"--data_permfail_rate=0.1", "--rcpt_permfail_rate=0.05", "--seed=8"});
    Fields blast = Blast(sink, {"--messages=2000", "--connections=8"});
    sink.Stop();
    EXPECT_NEAR(static_cast<double>(blast["code_550"]), 100, 60);  // 5% at RCPT
    EXPECT_NEAR(static_cast<double>(blast["code_554"]), 190, 70);  // 10% of the rest after DATA
    EXPECT_EQ(blast["refused"], blast["code_550"] + blast["code_554"]);
    EXPECT_EQ(blast["accepted"] + blast["refused"], 2000u);
  }
}

TEST(LoadToolsTest, DisconnectsAndSilenceAreReportedAsFailures) {
  {
    Sink sink({"--disconnect_rate=0.1", "--disconnect_at=dot", "--seed=3"});
    Fields blast = Blast(sink, {"--messages=1000", "--connections=8"});
    Fields counts = sink.Stop();
    const uint64_t drops = counts["disconnects_injected"];
    // 10% of the messages that reached their final dot.
    EXPECT_NEAR(static_cast<double>(drops), 0.1 * static_cast<double>(blast["accepted"] + drops), 40);
    EXPECT_EQ(blast["sessions_failed"], drops);
    // Each drop loses the message whose dot went unanswered and, when blast had
    // already pipelined the next message behind it, that one too.
    EXPECT_GE(blast["failed"], drops);
    EXPECT_LE(blast["failed"], 2 * drops);
    EXPECT_EQ(blast["accepted"] + blast["failed"], 1000u);
  }
  {
    Sink sink({"--silent_after_data_rate=0.02", "--seed=4"});
    Fields blast = Blast(sink, {"--messages=500", "--connections=16", "--reply_timeout=500ms"});
    Fields counts = sink.Stop();
    EXPECT_GT(blast["timeouts"], 0u);
    EXPECT_EQ(blast["timeouts"], counts["silences_injected"]);
    EXPECT_GE(blast["failed"], blast["timeouts"]);
    EXPECT_LE(blast["failed"], 2 * blast["timeouts"]);
    EXPECT_EQ(blast["accepted"] + blast["failed"], 500u);
  }
}

TEST(LoadToolsTest, DelayAndHugeRepliesAreHandled) {
  {
    Sink sink({"--data_delay_ms=150"});
    Fields blast = Blast(sink, {"--messages=40", "--connections=4"});
    sink.Stop();
    EXPECT_EQ(blast["accepted"], 40u);
    EXPECT_GE(blast["p50"], 150000u);  // the reply to the final dot waited 150 ms
  }
  {
    // 900 lines fit the client's bound (1000): it copes.
    Sink sink({"--huge_reply_lines=900", "--huge_reply_at=ehlo"});
    Fields blast = Blast(sink, {"--messages=100", "--connections=2"});
    sink.Stop();
    EXPECT_EQ(blast["accepted"], 100u);
  }
  {
    // 100,000 lines do not: every session fails fast, memory stays bounded, and the
    // run ends at its deadline.
    Sink sink({"--huge_reply_lines=100000", "--huge_reply_at=ehlo"});
    Fields blast = Blast(sink, {"--duration=1s", "--connections=2"});
    sink.Stop();
    EXPECT_EQ(blast["accepted"], 0u);
    EXPECT_GT(blast["sessions_failed"], 0u);
  }
}

TEST(LoadToolsTest, TempfailNTimesThenAccept) {
  Sink sink({"--tempfail_pattern=slow", "--tempfail_times=2"});
  std::vector<std::string> replies;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto [status, output] =
        RunCommand({"swaks", "--server", "127.0.0.1", "--port", sink.port(), "--to", "slow.user@example.org",
                    "--from", "a@example.net", "--timeout", "10"},
                   milliseconds(20000));
    replies.push_back(output.find("<** 451 4.3.0") != std::string::npos              ? "451"
                      : output.find("<-  250 2.0.0 Ok: queued") != std::string::npos ? "250"
                                                                                     : output);
  }
  EXPECT_EQ(replies, (std::vector<std::string>{"451", "451", "250"}));
  sink.Stop();
}

TEST(LoadToolsTest, SmtplibAndSwaksAreRecordedByteExactly) {
  const testing::ScratchDir scratch("load-exact");
  const std::string& dir = scratch.path();
  Sink sink({"--record_dir=" + dir});
  const std::string message =
      "Subject: exact\r\nMessage-ID: <exact-1@test>\r\n\r\n.starts with a dot\r\n..two dots\r\n"
      "trailing spaces   \r\n\r\nlast line\r\n";
  const std::string script = dir + "/send.py";
  {
    std::ofstream py(script);
    py << "import smtplib, sys\n"
          "s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\n"
          "s.sendmail('sender@example.org', ['r1@example.org', 'r2@example.org'], open(sys.argv[2], "
          "'rb').read())\n"
          "s.quit()\n";
    std::ofstream(dir + "/message.txt", std::ios::binary) << message;
  }
  auto [py_status, py_output] =
      RunCommand({"/usr/bin/python3", script, sink.port(), dir + "/message.txt"}, milliseconds(20000));
  EXPECT_EQ(py_status, 0) << py_output;
  const std::string swaks_body = "Subject: swaks\r\nMessage-ID: <exact-2@test>\r\n\r\n.dot\r\nbody\r\n";
  // swaks sends a file that ends with the terminator as it is (otherwise it adds an
  // empty line and its own terminator).
  std::ofstream(dir + "/swaks.txt", std::ios::binary) << swaks_body << ".\r\n";
  auto [sw_status, sw_output] =
      RunCommand({"swaks", "--server", "127.0.0.1", "--port", sink.port(), "--to", "r3@example.org", "--from",
                  "s@example.org", "--data", dir + "/swaks.txt"},
                 milliseconds(20000));
  EXPECT_EQ(sw_status, 0) << sw_output;
  Fields counts = sink.Stop();
  EXPECT_EQ(counts["messages"], 2u);
  EXPECT_EQ(ReadFile(dir + "/S0-1.eml"), message);
  EXPECT_EQ(ReadFile(dir + "/S0-2.eml"), swaks_body);
  EXPECT_NE(ReadFile(dir + "/S0-1.json").find("\"rcpt_to\":[\"r1@example.org\",\"r2@example.org\"]"),
            std::string::npos);
  EXPECT_NE(ReadFile(dir + "/S0-2.json").find("\"mail_from\":\"s@example.org\""), std::string::npos);
}

}  // namespace
}  // namespace ringpost::testing

namespace ringpost::testing {
namespace {

TEST(LoadToolsTest, WithoutPipeliningOneCommandPerReply) {
  Sink sink({});
  Fields blast = Blast(sink, {"--messages=300", "--connections=4", "--rcpts=3", "--pipelining=false"});
  Fields counts = sink.Stop();
  EXPECT_EQ(blast["accepted"], 300u);
  EXPECT_EQ(counts["recipients"], 900u);
}

TEST(LoadToolsTest, SinkPrintsCountsOnSigusr1AndAsJson) {
  Sink sink({"--json"});
  Fields blast = Blast(sink, {"--messages=50", "--connections=2", "--json"});
  (void)blast;  // JSON summary: parsed as fields below only for the sink
  sink.SignalUsr1();
  auto line = sink.ReadLine();
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("{\"connections\":2,"), std::string::npos) << *line;
  EXPECT_NE(line->find("\"messages\":50,"), std::string::npos) << *line;
  sink.Stop();
}

}  // namespace
}  // namespace ringpost::testing

namespace ringpost::testing {
namespace {

TEST(LoadToolsTest, RateCapsMessagesPerSecond) {
  Sink sink({});
  // 100 messages at 200/s, evenly spaced, cannot finish in less than 0.495 s. Only a
  // lower bound: the machine may always be slower.
  Fields blast = Blast(sink, {"--messages=100", "--connections=4", "--rate=200"});
  sink.Stop();
  EXPECT_EQ(blast["accepted"], 100u);
  Fields unlimited = [&] {
    Sink fast({});
    Fields f = Blast(fast, {"--messages=100", "--connections=4"});
    fast.Stop();
    return f;
  }();
  EXPECT_EQ(unlimited["accepted"], 100u);
  EXPECT_GE(blast["seconds_milli"], 450u);
  EXPECT_LE(blast["messages_per_second"], 205u);
  EXPECT_LT(unlimited["seconds_milli"], blast["seconds_milli"]);
}

}  // namespace
}  // namespace ringpost::testing
