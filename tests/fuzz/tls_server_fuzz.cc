// The server TlsChannel (the STARTTLS server side), two ways, picked by the first byte:
//
// Raw: arbitrary bytes as if from the network, split at points chosen by the input.
// No plaintext is ever produced without a finished handshake (the fuzzer cannot
// complete one, so none at all); once failed or closed, the channel reads nothing
// more; what it writes back stays bounded (alerts, a ServerHello flight).
//
// Session: a real client channel completes a real handshake with it, then the input is
// a script of steps (the client writes, the server replies, ciphertext moves either
// way in chunks of chosen sizes, a byte of it flipped on the way, either side closes),
// so reading, writing, closing and the record layer after the handshake are fuzzed too.
// The server only ever reads a prefix of what the client wrote (a flipped byte fails
// the channel; it never yields other plaintext); nothing is read after the client's
// close_notify, nor once the channel failed or closed.
//
// Checked on every run: no crash, no sanitizer report, bounded output.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "net/transport/tls_channel.h"
#include "tests/support/test_certificate.h"

namespace {

std::shared_ptr<ringpost::net::TlsContext> ServerContext() {
  static std::shared_ptr<ringpost::net::TlsContext>* context = [] {
    const std::string dir =
        std::filesystem::temp_directory_path() / ("ringpost_tls_fuzz_" + std::to_string(getpid()));
    const auto cert = ringpost::testing::WriteTestCertificate(dir, "fuzz.tls.test");
    auto made = ringpost::net::TlsContext::Server(cert.cert_path, cert.key_path);
    RP_CHECK(made.ok());
    std::filesystem::remove_all(dir);  // loaded: the files are not needed again
    return new std::shared_ptr<ringpost::net::TlsContext>(*made);
  }();
  return *context;
}

std::shared_ptr<ringpost::net::TlsContext> ClientContext() {
  static std::shared_ptr<ringpost::net::TlsContext>* context = [] {
    auto made = ringpost::net::TlsContext::Client("");
    RP_CHECK(made.ok());
    return new std::shared_ptr<ringpost::net::TlsContext>(*made);
  }();
  return *context;
}

int FuzzSession(const uint8_t* data, size_t size) {
  using ringpost::net::TlsChannel;
  auto server = TlsChannel::NewServer(ServerContext());
  auto client = TlsChannel::NewClient(ClientContext(), "fuzz.tls.test", nullptr);
  client->Start();
  std::string scratch;
  for (int round = 0; round < 10 && !(server->open() && client->open()); ++round) {
    std::string bytes;
    client->TakeOutput(&bytes);
    server->Feed(bytes, &scratch);
    bytes.clear();
    server->TakeOutput(&bytes);
    client->Feed(bytes, &scratch);
  }
  RP_CHECK(server->open() && client->open());
  std::string to_server, to_client;       // ciphertext on its way
  std::string written, read, replies;     // client plaintext sent, server plaintext got, client got
  bool tampered = false;
  size_t at = 0;
  auto next = [&]() -> uint8_t { return at < size ? data[at++] : 0; };
  while (at < size) {
    const uint8_t op = next();
    switch (op % 6) {
      case 0: {  // the client writes the next bytes of the input
        const size_t n = std::min<size_t>(next() % 64, size - at);
        const std::string piece(reinterpret_cast<const char*>(data + at), n);
        at += n;
        if (client->open()) {
          client->Write(piece);
          written += piece;
        }
        break;
      }
      case 1:
        server->Write("250 2.0.0 Ok\r\n");
        break;
      case 2: {  // ciphertext to the server, maybe with a byte flipped
        client->TakeOutput(&to_server);
        const size_t n = std::min<size_t>(1 + next() % 128, to_server.size());
        std::string chunk = to_server.substr(0, n);
        to_server.erase(0, n);
        if ((op & 0x80) != 0 && !chunk.empty()) {
          chunk[next() % chunk.size()] ^= static_cast<char>(1 + next() % 255);
          tampered = true;
        }
        const bool reading = server->open() && !server->peer_closed();
        const size_t before = read.size();
        server->Feed(chunk, &read);
        if (!reading) RP_CHECK_EQ(read.size(), before);  // nothing after the end is read
        break;
      }
      case 3: {  // ciphertext to the client
        server->TakeOutput(&to_client);
        const size_t n = std::min<size_t>(1 + next() % 128, to_client.size());
        client->Feed(to_client.substr(0, n), &replies);
        to_client.erase(0, n);
        break;
      }
      case 4:
        client->Shutdown();
        break;
      case 5:
        server->Shutdown();
        break;
    }
    // Only what the client wrote, in order, ever comes out (AEAD: a flipped byte fails
    // the channel rather than yield other bytes).
    RP_CHECK_LE(read.size(), written.size());
    RP_CHECK(written.compare(0, read.size(), read) == 0);
    RP_CHECK_LE(to_server.size() + to_client.size(), 64 * 1024 + written.size() * 2);
  }
  if (!tampered && server->open() && client->state() != TlsChannel::State::kFailed) {
    // Everything sent arrives once the rest of the ciphertext is delivered.
    client->TakeOutput(&to_server);
    server->Feed(to_server, &read);
    RP_CHECK(read == written);
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ringpost::net::TlsChannel;
  if (size < 1) return 0;
  if (data[0] & 0x80) return FuzzSession(data + 1, size - 1);
  auto channel = TlsChannel::NewServer(ServerContext());
  channel->Start();
  const size_t chunk_max = 1 + data[0] % 200;
  const absl::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string plaintext, output;
  for (size_t at = 0; at < input.size();) {
    const size_t n = std::min(chunk_max, input.size() - at);
    const TlsChannel::State before = channel->state();
    const bool peer_closed = channel->peer_closed();
    const size_t plaintext_before = plaintext.size();
    channel->Feed(input.substr(at, n), &plaintext);
    at += n;
    if (before == TlsChannel::State::kFailed || before == TlsChannel::State::kClosed) {
      RP_CHECK(channel->state() == before);  // nothing after the end is read
    }
    if (peer_closed) RP_CHECK(plaintext.size() == plaintext_before);  // nor after a close_notify
    channel->TakeOutput(&output);
    RP_CHECK_LE(output.size(), 16384 + at * 64);
  }
  RP_CHECK(channel->state() != TlsChannel::State::kOpen);
  RP_CHECK(plaintext.empty());
  return 0;
}
