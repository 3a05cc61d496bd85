// DNS engines without a network: cache hits (the per-shard route cache that answers
// a thousand messages to one domain with one query), the answer parser, and the MX
// plan. Google Benchmark; items per second is resolutions (or answers) per second.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "dns/dns_message.h"
#include "dns/mx_plan.h"
#include "dns/mx_resolver.h"
#include "dns/route_cache.h"

namespace ringpost::dns {
namespace {

void BM_RouteCacheHit(benchmark::State& state) {
  const int domains = static_cast<int>(state.range(0));
  ExpiringCache<MailRoute> cache;
  std::vector<std::string> names;
  for (int i = 0; i < domains; ++i) {
    names.push_back("d" + std::to_string(i) + ".example.com");
    MailRoute route;
    route.kind = MailRoute::Kind::kAddresses;
    route.addresses = {"192.0.2.1", "192.0.2.2"};
    cache.Put(names.back(), route, /*expires=*/1'000'000'000, /*now=*/0);
  }
  size_t i = 0;
  for (auto _ : state) {
    const MailRoute* route = cache.Find(names[i], /*now=*/1);
    benchmark::DoNotOptimize(route);
    if (++i == names.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteCacheHit)->Arg(1)->Arg(1000)->Arg(100000);

std::string MxAnswer() {
  // example.com MX 10 mx1, 20 mx2, with glue: what a resolver typically returns.
  std::string m("\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x01", 12);
  m += std::string(
           "\x07"
           "example\x03"
           "com\x00",
           13) +
       std::string("\x00\x0f\x00\x01", 4);
  for (const char* host : {"\x03mx1", "\x03mx2"}) {
    m += std::string("\xc0\x0c\x00\x0f\x00\x01\x00\x00\x01\x2c\x00\x08\x00\x0a", 14) + std::string(host, 4) +
         std::string("\xc0\x0c", 2);
  }
  m += std::string("\x03mx1\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01", 20);
  return m;
}

void BM_ParseMxAnswer(benchmark::State& state) {
  const std::string answer = MxAnswer();
  if (!ParseDnsAnswer(answer).ok()) state.SkipWithError("bad fixture");
  for (auto _ : state) benchmark::DoNotOptimize(ParseDnsAnswer(answer));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(answer.size()));
}
BENCHMARK(BM_ParseMxAnswer);

void BM_PlanMx(benchmark::State& state) {
  const std::vector<MxRecord> records = {{10, "a.example", 1}, {10, "b.example", 1}, {20, "c.example", 1}};
  uint64_t x = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(PlanMx(
        records, [](const std::string&) { return false; },
        [&](uint64_t n) { return (x = x * 6364136223846793005ull + 1) % n; }));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PlanMx);

}  // namespace
}  // namespace ringpost::dns

BENCHMARK_MAIN();
