// A server TlsChannel (the STARTTLS server side) fed arbitrary bytes as if from the
// network, split at points chosen by the input. Checked on every run: no crash, no
// sanitizer report; no plaintext is ever produced without a finished handshake (the
// fuzzer cannot complete one, so none at all); once failed or closed, the channel
// reads nothing more; what it writes back stays bounded (alerts, a ServerHello flight).
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ringpost::net::TlsChannel;
  if (size < 1) return 0;
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
