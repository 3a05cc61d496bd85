// The DKIM key table (--dkim_key_table) and a shard's key cache: lines and their
// errors, the nearest parent domain, reading a key once, the LRU bound, and a reload
// emptying the cache so a key replaced in place is read again.
#include "net/inbound/dkim_keys.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/dkim_test_keys.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::net {
namespace {

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(DkimKeyTableTest, LinesParentsAndErrorsNamingFileAndLine) {
  testing::ScratchDir dir("dkim_keys_test");
  const std::string path = dir / "keys.table";
  Write(path,
        "# comment\nExample.COM rsa a.pem rsa-sha256\nexample.com ed /abs/b.pem\nshop.example.org s c.pem\n");
  DkimKeyTable table(path);
  ASSERT_TRUE(table.Load().ok());
  EXPECT_EQ(table.size(), 3u);
  auto snapshot = table.Get();
  const std::vector<DkimKeyEntry>* entries = snapshot->Find("news.mail.example.com");
  ASSERT_NE(entries, nullptr);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].domain, "example.com");
  EXPECT_EQ((*entries)[0].key_file, dir / "a.pem");  // relative to the table's folder
  EXPECT_EQ((*entries)[0].algorithm, DkimAlgorithm::kRsaSha256);
  EXPECT_EQ((*entries)[1].key_file, "/abs/b.pem");
  EXPECT_FALSE((*entries)[1].algorithm.has_value());
  EXPECT_EQ(snapshot->Find("example.org"), nullptr);  // a parent never signs for a child's parent
  EXPECT_EQ(snapshot->Find("com"), nullptr);

  const uint64_t generation = snapshot->generation;
  for (const auto& [text, error] : std::vector<std::pair<std::string, std::string>>{
           {"example.com rsa\n",
            ":1: expected 'signing-domain selector key-file [rsa-sha256|ed25519-sha256]'"},
           {"exa$mple.com s k.pem\n", ":1: 'exa$mple.com' is not a domain"},
           {"\nexample.com s/x k.pem\n", ":2: 's/x' is not a selector"},
           {"example.com s k.pem rsa-sha1\n",
            ":1: unknown algorithm 'rsa-sha1' (rsa-sha256 or ed25519-sha256)"},
       }) {
    Write(path, text);
    absl::Status status = table.Load();
    EXPECT_EQ(status.message(), "--dkim_key_table: " + path + error);
  }
  EXPECT_EQ(table.Get()->generation, generation);  // the table in force stayed
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(DkimKeyTable(dir / "missing").Load().message(),
            "--dkim_key_table: cannot read " + dir / "missing");
}

TEST(DkimKeyCacheTest, ReadsOnceKeepsTheRecentAndForgetsOnANewTable) {
  testing::ScratchDir dir("dkim_keys_test");
  Write(dir / "a.pem", testing::NewKeyPem(EVP_PKEY_ED25519));
  Write(dir / "b.pem", testing::NewKeyPem(EVP_PKEY_ED25519));
  Write(dir / "bad.pem", "not a key");
  const DkimKeyEntry a{"a.example", "s", dir / "a.pem", std::nullopt};
  const DkimKeyEntry b{"b.example", "s", dir / "b.pem", std::nullopt};
  const DkimKeyEntry bad{"c.example", "s", dir / "bad.pem", std::nullopt};
  const DkimKeyEntry wrong{"a.example", "s", dir / "a.pem", DkimAlgorithm::kRsaSha256};
  DkimKeyCache cache(2);
  std::string error;
  ASSERT_NE(cache.Find(a, 1, &error), nullptr);
  ASSERT_NE(cache.Find(a, 1, &error), nullptr);
  EXPECT_EQ(cache.file_reads(), 1u);
  // A key that does not read says so once, naming its file.
  EXPECT_EQ(cache.Find(bad, 1, &error), nullptr);
  EXPECT_EQ(error, "DKIM key " + dir / "bad.pem" + ": not a PEM private key");
  EXPECT_EQ(cache.Find(bad, 1, &error), nullptr);
  EXPECT_EQ(error, "");
  // Two entries at most: b pushes out a (the least recently used), which is read again.
  ASSERT_NE(cache.Find(b, 1, &error), nullptr);
  EXPECT_EQ(cache.size(), 2u);
  ASSERT_NE(cache.Find(a, 1, &error), nullptr);
  EXPECT_EQ(cache.file_reads(), 4u);
  // A new table generation: everything is read again (a key replaced in place).
  ASSERT_NE(cache.Find(a, 2, &error), nullptr);
  EXPECT_EQ(cache.file_reads(), 5u);
  DkimKeyCache other(10);
  EXPECT_EQ(other.Find(wrong, 1, &error), nullptr);
  EXPECT_EQ(error, "DKIM key " + dir / "a.pem" + ": not the algorithm the table names");
}

}  // namespace
}  // namespace ringpost::net
