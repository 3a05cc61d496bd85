// DKIM signing cost per message, beside BoringSSL's raw signature rate in the same run:
//   BM_Dkim_RawSignature/<alg>          EVP_DigestSign over 600 bytes (about what a
//                                       signature covers): the floor for one signature.
//   BM_Dkim_Sha256/<bytes>, BM_Dkim_BodyHash/<bytes>
//                                       SHA-256 alone, and the body hash (relaxed
//                                       canonicalization too): the hashing DKIM requires.
//   BM_Dkim_SignMessage/<alg>/<bytes>   what reception adds to a message: the header
//                                       section kept and split, the body hashed (relaxed),
//                                       the DKIM-Signature computed with the default fields.
//   BM_Dkim_SignFromKeyTable/<domains>  the same through the key table and a shard's key
//                                       cache (Ed25519), the From: domain rotating over
//                                       1 or 100,000 signing domains (each its own key
//                                       file, a hard link to one key).
// alg 0: rsa-sha256 (2048 bits), 1: ed25519-sha256. Goal: at 1 KB, signed messages per
// second at least 90% of the raw signature rate; 100,000 domains at least half of one.
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "net/dkim/dkim_signer.h"
#include "net/dkim/header_fields.h"
#include "net/inbound/dkim_keys.h"
#include "net/inbound/message_dkim.h"
#include "tests/support/dkim_test_keys.h"

namespace {

using ringpost::net::Canonicalization;
using ringpost::net::DkimKey;

std::string NewKeyPem(bool ed25519) {
  return ringpost::testing::NewKeyPem(ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA);
}

const DkimKey& KeyFor(bool ed25519) {
  static const DkimKey* keys[2] = {
      new DkimKey(*ringpost::net::ParseDkimPrivateKey(NewKeyPem(false))),
      new DkimKey(*ringpost::net::ParseDkimPrivateKey(NewKeyPem(true))),
  };
  return *keys[ed25519 ? 1 : 0];
}

// A message as stored: our Received: first, then what ringpost-blast sends.
std::string Message(size_t bytes, absl::string_view from_domain = "example.com") {
  std::string m = absl::StrCat(
      "Received: from blast (localhost [127.0.0.1])\r\n\tby mx.example.org (ringpost) with ESMTP id "
      "0123456789abc\r\n"
      "\tfor <r@dest.example>; Mon, 7 Dec 2026 00:00:00 +0000\r\n",
      "From: <blast@", from_domain, ">\r\nTo: <r@dest.example>\r\nSubject: load test\r\n",
      "Date: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: <1.2@blast.example>\r\n",
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
  for (size_t line = 0; m.size() < bytes; ++line)
    absl::StrAppend(&m, std::string(74, 'a' + line % 26), "\r\n");
  return m;
}

void BM_Dkim_RawSignature(benchmark::State& state) {
  const DkimKey& key = KeyFor(state.range(0) == 1);
  const std::string data(600, 'h');
  std::vector<uint8_t> signature(512);
  for (auto _ : state) {
    bssl::ScopedEVP_MD_CTX context;
    size_t length = signature.size();
    EVP_DigestSignInit(context.get(), nullptr, state.range(0) == 1 ? nullptr : EVP_sha256(), nullptr,
                       key.key.get());
    EVP_DigestSign(context.get(), signature.data(), &length, reinterpret_cast<const uint8_t*>(data.data()),
                   state.range(0) == 1 ? 32 : data.size());
    benchmark::DoNotOptimize(signature.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Dkim_RawSignature)->Arg(0)->Arg(1);

// The hashing DKIM cannot avoid, to tell it from the rest: SHA-256 alone, and the body
// hash (relaxed canonicalization and SHA-256) over the same bytes.
void BM_Dkim_Sha256(benchmark::State& state) {
  const std::string body = Message(static_cast<size_t>(state.range(0)));
  uint8_t digest[SHA256_DIGEST_LENGTH];
  for (auto _ : state) {
    SHA256(reinterpret_cast<const uint8_t*>(body.data()), body.size(), digest);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_Dkim_Sha256)->Arg(1024)->Arg(100 * 1024);

void BM_Dkim_BodyHash(benchmark::State& state) {
  const std::string body = Message(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    ringpost::net::DkimBodyHasher hasher(Canonicalization::kRelaxed);
    hasher.Add(body);
    benchmark::DoNotOptimize(hasher.Finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_Dkim_BodyHash)->Arg(1024)->Arg(100 * 1024);

// What MessageDkim does for one message, without the shard around it.
std::string SignStored(const DkimKey& key, const std::string& message) {
  ringpost::net::HeaderSectionReader header;
  const size_t header_bytes = header.Feed(message);
  ringpost::net::DkimBodyHasher hasher(Canonicalization::kRelaxed);
  hasher.Add(absl::string_view(message).substr(header_bytes));
  ringpost::net::DkimSignRequest request;
  request.domain = "example.com";
  request.selector = "sel";
  request.header_fields = ringpost::net::SplitHeaderFields(header.bytes());
  static const ringpost::net::DkimSigningOptions options;
  request.signed_names = ringpost::net::DkimSignedNames(request.header_fields, options.header_names);
  request.body_hash = hasher.Finish();
  request.time = 1796000000;
  return *ringpost::net::SignDkim(key, request);
}

void BM_Dkim_SignMessage(benchmark::State& state) {
  const DkimKey& key = KeyFor(state.range(0) == 1);
  const std::string message = Message(static_cast<size_t>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(SignStored(key, message));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Dkim_SignMessage)
    ->Args({0, 1024})
    ->Args({1, 1024})
    ->Args({0, 100 * 1024})
    ->Args({1, 100 * 1024});

void BM_Dkim_SignFromKeyTable(benchmark::State& state) {
  const int domains = static_cast<int>(state.range(0));
  char folder_template[] = "/tmp/ringpost-dkim-bench-XXXXXX";
  const std::filesystem::path folder = mkdtemp(folder_template);
  const std::string pem = NewKeyPem(true);
  {
    std::ofstream table(folder / "keys.table");
    for (int d = 0; d < domains; ++d) {
      // File systems allow some 65,000 links to a file: a new one every 50,000.
      const std::string original = absl::StrCat("key", d / 50000, ".pem");
      if (d % 50000 == 0) std::ofstream(folder / original) << pem;
      const std::string link = absl::StrCat("k", d, ".pem");
      std::filesystem::create_hard_link(folder / original, folder / link);
      table << "d" << d << ".example sel " << link << "\n";
    }
  }
  ringpost::net::DkimKeyTable table((folder / "keys.table").string());
  if (!table.Load().ok()) state.SkipWithError("the key table did not load");
  ringpost::net::DkimKeyCache cache(100000);
  std::vector<std::string> messages;
  for (int d = 0; d < std::min(domains, 1000); ++d)
    messages.push_back(Message(1024, absl::StrCat("d", d, ".example")));
  const auto snapshot = table.Get();
  int next = 0;
  std::string error;
  for (auto _ : state) {
    const int d = next++ % domains;
    const std::string domain = absl::StrCat("d", d, ".example");
    const auto* entries = snapshot->Find(domain);
    const DkimKey* key = cache.Find(entries->front(), snapshot->generation, &error);
    benchmark::DoNotOptimize(SignStored(*key, messages[static_cast<size_t>(d % messages.size())]));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["key_file_reads"] = static_cast<double>(cache.file_reads());
  std::filesystem::remove_all(folder);
}
BENCHMARK(BM_Dkim_SignFromKeyTable)->Arg(1)->Arg(100000)->Iterations(300000);

}  // namespace

BENCHMARK_MAIN();
