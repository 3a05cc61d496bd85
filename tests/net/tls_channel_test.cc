// TlsChannel: two channels handshake and talk through memory only (no sockets), as the
// connection layer drives them: ciphertext out of one goes into the other.
#include "net/transport/tls_channel.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/support/scratch_dir.h"
#include "tests/support/test_certificate.h"

namespace ringpost::net {
namespace {

class TlsChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = ringpost::testing::WriteTestCertificate(scratch_.path(), "mx.tls.test");
    auto server = TlsContext::Server(cert_.cert_path, cert_.key_path);
    ASSERT_TRUE(server.ok()) << server.status();
    server_context_ = *server;
    auto client = TlsContext::Client("");
    ASSERT_TRUE(client.ok()) << client.status();
    client_context_ = *client;
    auto trusting = TlsContext::Client(cert_.cert_path);
    ASSERT_TRUE(trusting.ok()) << trusting.status();
    trusting_context_ = *trusting;
  }

  // Moves ciphertext both ways until both are quiet; plaintext lands in the strings.
  static void Pump(TlsChannel& client, TlsChannel& server, std::string* to_client = nullptr,
                   std::string* to_server = nullptr) {
    std::string scratch;
    for (int round = 0; round < 20; ++round) {
      if (!client.has_output() && !server.has_output()) return;
      std::string bytes;
      client.TakeOutput(&bytes);
      if (!bytes.empty()) server.Feed(bytes, to_server != nullptr ? to_server : &scratch);
      bytes.clear();
      server.TakeOutput(&bytes);
      if (!bytes.empty()) client.Feed(bytes, to_client != nullptr ? to_client : &scratch);
    }
  }

  // A server channel and a client channel that finished their handshake.
  void Handshake() {
    server_ = TlsChannel::NewServer(server_context_);
    client_ = TlsChannel::NewClient(client_context_, "", nullptr);
    client_->Start();
    Pump(*client_, *server_);
    ASSERT_TRUE(server_->open()) << server_->error();
  }

  ringpost::testing::ScratchDir scratch_{"tls-channel"};
  std::unique_ptr<TlsChannel> server_, client_;
  ringpost::testing::TestCertificate cert_;
  std::shared_ptr<TlsContext> server_context_, client_context_, trusting_context_;
};

TEST_F(TlsChannelTest, HandshakesWithTls13AndCarriesDataBothWays) {
  auto server = TlsChannel::NewServer(server_context_);
  auto client = TlsChannel::NewClient(client_context_, "mx.tls.test", nullptr);
  client->Start();
  Pump(*client, *server);
  ASSERT_TRUE(client->open()) << client->error();
  ASSERT_TRUE(server->open()) << server->error();
  EXPECT_EQ(server->summary().version, "TLSv1.3");
  EXPECT_EQ(server->summary().sni, "mx.tls.test");
  EXPECT_FALSE(server->summary().cipher.empty());
  EXPECT_EQ(client->summary().Description(), server->summary().Description());
  // Self-signed and not trusted by this client: encrypted, but not verified.
  EXPECT_FALSE(client->summary().peer_verified);

  std::string at_server, at_client;
  client->Write("EHLO client.test\r\n");
  Pump(*client, *server, &at_client, &at_server);
  EXPECT_EQ(at_server, "EHLO client.test\r\n");
  server->Write("250 ok\r\n");
  Pump(*client, *server, &at_client, &at_server);
  EXPECT_EQ(at_client, "250 ok\r\n");
}

TEST_F(TlsChannelTest, NegotiatesTls12WhenThePeerStopsThere) {
  SSL_CTX_set_max_proto_version(client_context_->get(), TLS1_2_VERSION);
  auto server = TlsChannel::NewServer(server_context_);
  auto client = TlsChannel::NewClient(client_context_, "", nullptr);
  client->Start();
  Pump(*client, *server);
  ASSERT_TRUE(server->open()) << server->error();
  EXPECT_EQ(server->summary().version, "TLSv1.2");
  EXPECT_EQ(server->summary().sni, "");
}

TEST_F(TlsChannelTest, VerifiesTheChainAndTheNameAskedFor) {
  for (const auto& [sni, verified] : {std::pair<std::string, bool>{"mx.tls.test", true},
                                      {"other.tls.test", false},  // RFC 6125: the name must match
                                      {"", false}}) {             // no name: nothing to verify
    auto server = TlsChannel::NewServer(server_context_);
    auto client = TlsChannel::NewClient(trusting_context_, sni, nullptr);
    client->Start();
    Pump(*client, *server);
    ASSERT_TRUE(client->open()) << client->error();
    EXPECT_EQ(client->summary().peer_verified, verified) << "sni=" << sni;
  }
}

TEST_F(TlsChannelTest, ResumesASessionTheServerIssued) {
  auto server = TlsChannel::NewServer(server_context_);
  auto client = TlsChannel::NewClient(client_context_, "mx.tls.test", nullptr);
  client->Start();
  Pump(*client, *server);
  ASSERT_TRUE(client->open());
  // TLS 1.3 tickets arrive after the handshake, read with the next data.
  server->Write("220 ready\r\n");
  std::string at_client;
  Pump(*client, *server, &at_client);
  bssl::UniquePtr<SSL_SESSION> session = client->TakeNewSession();
  ASSERT_NE(session, nullptr);
  EXPECT_FALSE(client->summary().resumed);

  auto server2 = TlsChannel::NewServer(server_context_);
  auto client2 = TlsChannel::NewClient(client_context_, "mx.tls.test", session.get());
  client2->Start();
  Pump(*client2, *server2);
  ASSERT_TRUE(client2->open());
  EXPECT_TRUE(client2->summary().resumed);
  EXPECT_TRUE(server2->summary().resumed);
}

TEST_F(TlsChannelTest, PlaintextWhereAHandshakeShouldBeFails) {
  auto server = TlsChannel::NewServer(server_context_);
  std::string plaintext;
  server->Feed("EHLO attacker.test\r\nMAIL FROM:<a@b>\r\n", &plaintext);
  EXPECT_EQ(server->state(), TlsChannel::State::kFailed);
  EXPECT_FALSE(server->error().empty());
  EXPECT_TRUE(plaintext.empty());
}

TEST_F(TlsChannelTest, NothingAfterCloseNotifyIsRead) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  TlsChannel* server = server_.get();
  TlsChannel* client = client_.get();
  client->Shutdown();
  std::string bytes;
  client->TakeOutput(&bytes);
  bytes += "RSET\r\n";  // plaintext after TLS ended
  std::string plaintext;
  server->Feed(bytes, &plaintext);
  EXPECT_TRUE(server->peer_closed());
  server->Feed("QUIT\r\n", &plaintext);
  EXPECT_TRUE(plaintext.empty());
  EXPECT_TRUE(server->open());  // what followed the close did not fail the channel: it can still reply
}

// RFC 8446 §6.1: close_notify closes the sender's side only. QUIT's 221 written after
// the client's close_notify is still encrypted and sent, then the server's close_notify.
// The client here is plain BoringSSL over memory BIOs (a TlsChannel stops reading once
// it closed), so it can send its close_notify and still read the reply.
TEST_F(TlsChannelTest, AfterThePeersCloseNotifyTheReplyStillGoesOut) {
  bssl::UniquePtr<SSL> client(SSL_new(client_context_->get()));
  BIO* client_in = BIO_new(BIO_s_mem());
  BIO* client_out = BIO_new(BIO_s_mem());
  SSL_set_bio(client.get(), client_in, client_out);  // owned by the SSL now
  SSL_set_connect_state(client.get());
  auto server = TlsChannel::NewServer(server_context_);
  auto to_server = [&] {
    std::string bytes(BIO_pending(client_out), '\0');
    BIO_read(client_out, bytes.data(), static_cast<int>(bytes.size()));
    std::string plaintext;
    server->Feed(bytes, &plaintext);
    return plaintext;
  };
  auto to_client = [&] {
    std::string bytes;
    server->TakeOutput(&bytes);
    BIO_write(client_in, bytes.data(), static_cast<int>(bytes.size()));
  };
  for (int round = 0; round < 10 && SSL_do_handshake(client.get()) != 1; ++round) {
    to_server();
    to_client();
  }
  to_server();  // the client's Finished
  ASSERT_TRUE(server->open()) << server->error();
  ASSERT_EQ(SSL_write(client.get(), "QUIT\r\n", 6), 6);
  SSL_shutdown(client.get());  // close_notify right behind QUIT, as one flight
  EXPECT_EQ(to_server(), "QUIT\r\n");
  ASSERT_TRUE(server->peer_closed());
  EXPECT_TRUE(server->open());
  server->Write("221 2.0.0 Bye\r\n");
  server->Shutdown();  // then our close_notify
  EXPECT_EQ(server->state(), TlsChannel::State::kClosed);
  to_client();
  char reply[64];
  const int n = SSL_read(client.get(), reply, sizeof(reply));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(reply, static_cast<size_t>(n)), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(SSL_read(client.get(), reply, sizeof(reply)), 0);  // then the server's close_notify
  EXPECT_EQ(SSL_get_error(client.get(), 0), SSL_ERROR_ZERO_RETURN);
}

TEST_F(TlsChannelTest, DataWrittenBeforeShutdownArrivesBeforeTheClose) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  TlsChannel* server = server_.get();
  TlsChannel* client = client_.get();
  server->Write("221 2.0.0 Bye\r\n");  // QUIT's reply, then close_notify
  server->Shutdown();
  std::string bytes, plaintext;
  server->TakeOutput(&bytes);
  client->Feed(bytes, &plaintext);
  EXPECT_EQ(plaintext, "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(client->peer_closed());
}

TEST_F(TlsChannelTest, HandshakeFedOneByteAtATime) {
  auto server = TlsChannel::NewServer(server_context_);
  auto client = TlsChannel::NewClient(client_context_, "", nullptr);
  client->Start();
  std::string plaintext;
  for (int round = 0; round < 10 && !(client->open() && server->open()); ++round) {
    std::string bytes;
    client->TakeOutput(&bytes);
    for (char c : bytes) server->Feed(std::string(1, c), &plaintext);
    bytes.clear();
    server->TakeOutput(&bytes);
    for (char c : bytes) client->Feed(std::string(1, c), &plaintext);
  }
  EXPECT_TRUE(client->open() && server->open());
}

TEST(TlsContext, ErrorsNameTheFile) {
  auto missing = TlsContext::Server("/nonexistent/cert.pem", "/nonexistent/key.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--tls_cert /nonexistent/cert.pem"), std::string::npos)
      << missing.status();
}

}  // namespace
}  // namespace ringpost::net
