// The SMTP client engine with scripted server replies, for its unit tests: what the
// client writes in answer to each server line, and what it reported.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "net/smtp/line_scan.h"
#include "net/smtp/smtp_client.h"

namespace ringpost::testing {

using net::IsCrLfClean;
using net::OutboundMessage;
using net::RecipientResult;
using net::SmtpClient;
using net::SmtpClientEvents;
using net::SmtpClientOptions;

class Recorder : public SmtpClientEvents {
 public:
  void OnSessionReady() override { ++ready; }
  void OnMessageDone(std::vector<RecipientResult> results) override { done.push_back(std::move(results)); }
  void OnSessionFailed(const std::string& reason) override { failures.push_back(reason); }
  void OnStartTls() override { ++start_tls; }
  int ready = 0;
  int start_tls = 0;
  std::vector<std::vector<RecipientResult>> done;
  std::vector<std::string> failures;
};

struct ClientHarness {
  ClientHarness() : client(options, events) { options.helo_name = "client.test"; }
  // The server says `bytes`; returns what the client wrote in response.
  std::string Hear(absl::string_view bytes) {
    client.Feed(bytes);
    std::string out = client.TakeOutput();
    EXPECT_TRUE(IsCrLfClean(out)) << out;  // DESIGN.md: never a bare CR or LF outbound
    return out;
  }
  // Greeting and an EHLO reply offering `extensions` ("PIPELINING", "SIZE 100"...).
  void Connect(std::vector<std::string> extensions) {
    EXPECT_EQ(Hear("220 mx.example ESMTP\r\n"), "EHLO client.test\r\n");
    std::string reply = "250";
    reply += extensions.empty() ? " mx.example\r\n" : "-mx.example\r\n";
    for (size_t i = 0; i < extensions.size(); ++i) {
      absl::StrAppend(&reply, "250", i + 1 == extensions.size() ? " " : "-", extensions[i], "\r\n");
    }
    EXPECT_EQ(Hear(reply), "");
    ASSERT_TRUE(client.ready());
  }
  std::string Start(OutboundMessage message) {
    client.StartMessage(std::move(message));
    std::string out = client.TakeOutput();
    EXPECT_TRUE(IsCrLfClean(out)) << out;
    return out;
  }

  SmtpClientOptions options;
  Recorder events;
  SmtpClient client;
};

inline OutboundMessage Message(std::vector<std::string> recipients,
                               absl::string_view body = "Subject: x\r\n\r\nhi\r\n") {
  OutboundMessage m;
  m.mail_from = "sender@example.org";
  m.recipients = std::move(recipients);
  m.body = std::string(body);
  return m;
}

}  // namespace ringpost::testing
