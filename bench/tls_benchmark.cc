// TLS costs without a network: full handshakes (both ends, and the server's
// share alone: what one shard pays per STARTTLS), resumed handshakes, and the record
// layer (encrypting at one end and decrypting at the other) per message size. Google
// Benchmark; items per second is handshakes (or messages) per second on one core.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "benchmark/benchmark.h"
#include "core/check.h"
#include "net/transport/tls_channel.h"
#include "tests/support/test_certificate.h"

namespace ringpost::net {
namespace {

using testing::KeyType;

struct Contexts {
  std::shared_ptr<TlsContext> ecdsa, rsa, client;
};

const Contexts& GetContexts() {
  static const Contexts* contexts = [] {
    const std::string dir =
        std::filesystem::temp_directory_path() / ("ringpost_tls_benchmark_" + std::to_string(getpid()));
    auto* c = new Contexts;
    const auto ec = testing::WriteTestCertificate(dir, "ec.bench.test", KeyType::kEcdsaP256);
    const auto rsa = testing::WriteTestCertificate(dir, "rsa.bench.test", KeyType::kRsa2048);
    c->ecdsa = *TlsContext::Server(ec.cert_path, ec.key_path);
    c->rsa = *TlsContext::Server(rsa.cert_path, rsa.key_path);
    c->client = *TlsContext::Client("");
    std::filesystem::remove_all(dir);  // loaded: the files are not needed again
    return c;
  }();
  return *contexts;
}

const std::shared_ptr<TlsContext>& ServerContext(int64_t key) {
  return key == 0 ? GetContexts().ecdsa : GetContexts().rsa;
}

// Moves ciphertext between the two until both are quiet.
void Pump(TlsChannel& client, TlsChannel& server, std::string* plaintext) {
  std::string bytes;
  for (int round = 0; round < 20 && (client.has_output() || server.has_output()); ++round) {
    bytes.clear();
    client.TakeOutput(&bytes);
    if (!bytes.empty()) server.Feed(bytes, plaintext);
    bytes.clear();
    server.TakeOutput(&bytes);
    if (!bytes.empty()) client.Feed(bytes, plaintext);
  }
}

void BM_HandshakeBothEnds(benchmark::State& state) {
  const auto& server_context = ServerContext(state.range(0));
  std::string plaintext;
  for (auto _ : state) {
    auto server = TlsChannel::NewServer(server_context);
    auto client = TlsChannel::NewClient(GetContexts().client, "bench.test", nullptr);
    client->Start();
    Pump(*client, *server, &plaintext);
    RP_CHECK(server->open() && client->open());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "ECDSA P-256" : "RSA 2048");
}
BENCHMARK(BM_HandshakeBothEnds)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// The server's share only (what a shard spends per inbound STARTTLS): the client's
// work runs with the clock stopped.
void BM_HandshakeServerSide(benchmark::State& state) {
  const auto& server_context = ServerContext(state.range(0));
  std::string plaintext, hello, flight, finished;
  for (auto _ : state) {
    state.PauseTiming();
    auto client = TlsChannel::NewClient(GetContexts().client, "bench.test", nullptr);
    client->Start();
    hello.clear();
    client->TakeOutput(&hello);
    state.ResumeTiming();
    auto server = TlsChannel::NewServer(server_context);
    server->Feed(hello, &plaintext);
    flight.clear();
    server->TakeOutput(&flight);
    state.PauseTiming();
    client->Feed(flight, &plaintext);
    finished.clear();
    client->TakeOutput(&finished);
    state.ResumeTiming();
    server->Feed(finished, &plaintext);
    RP_CHECK(server->open());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "ECDSA P-256" : "RSA 2048");
}
BENCHMARK(BM_HandshakeServerSide)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_HandshakeResumed(benchmark::State& state) {
  const auto& server_context = ServerContext(0);
  std::string plaintext;
  bssl::UniquePtr<SSL_SESSION> session;
  {
    auto server = TlsChannel::NewServer(server_context);
    auto client = TlsChannel::NewClient(GetContexts().client, "bench.test", nullptr);
    client->Start();
    Pump(*client, *server, &plaintext);
    server->Write("220 ready\r\n");  // TLS 1.3 tickets come with the next data
    Pump(*client, *server, &plaintext);
    session = client->TakeNewSession();
    RP_CHECK(session != nullptr);
  }
  for (auto _ : state) {
    auto server = TlsChannel::NewServer(server_context);
    auto client = TlsChannel::NewClient(GetContexts().client, "bench.test", session.get());
    client->Start();
    Pump(*client, *server, &plaintext);
    RP_CHECK(server->open() && server->summary().resumed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HandshakeResumed)->Unit(benchmark::kMicrosecond);

// One message through the record layer: encrypted by one end, decrypted by the other.
void BM_RecordsPerMessage(benchmark::State& state) {
  auto server = TlsChannel::NewServer(ServerContext(0));
  auto client = TlsChannel::NewClient(GetContexts().client, "bench.test", nullptr);
  client->Start();
  std::string plaintext;
  Pump(*client, *server, &plaintext);
  RP_CHECK(server->open());
  const std::string message(static_cast<size_t>(state.range(0)), 'x');
  std::string ciphertext;
  for (auto _ : state) {
    client->Write(message);
    ciphertext.clear();
    client->TakeOutput(&ciphertext);
    plaintext.clear();
    server->Feed(ciphertext, &plaintext);
    RP_CHECK_EQ(plaintext.size(), message.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(server->summary().cipher);
}
BENCHMARK(BM_RecordsPerMessage)->Arg(1024)->Arg(102400);

}  // namespace
}  // namespace ringpost::net

BENCHMARK_MAIN();
