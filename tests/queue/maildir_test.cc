// Local delivery on a real ring (queue/maildir.h): every step of a Maildir delivery is
// an io_uring operation on the shard's ring, and the file that lands in new/ is what
// Maildir readers expect.
#include "queue/maildir.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/runtime.h"
#include "gtest/gtest.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::queue {
namespace {

core::RuntimeOptions OneShard() {
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  return options;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Outcome {
  absl::Status status = absl::UnknownError("no answer");
  std::string path;
  bool answered_inside_deliver = false;
};

// Runs one shard that delivers `messages` (all at once) and stops when every one is
// answered.
std::vector<Outcome> DeliverAll(const std::string& root, const std::vector<MaildirMessage>& messages,
                                const std::string& body) {
  std::vector<Outcome> outcomes(messages.size());
  core::Runtime runtime(OneShard());
  const absl::Status run = runtime.Run([&](core::Shard& shard) {
    auto& writer = shard.Make<MaildirWriter>(shard, root);
    auto unix_body = std::make_shared<const std::string>(UnixLines(body));
    auto left = std::make_shared<size_t>(messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
      auto returned = std::make_shared<bool>(false);
      writer.Deliver(messages[i], unix_body,
                     [&outcomes, &shard, i, left, returned](const absl::Status& status, const std::string& path) {
                       outcomes[i] = {status, path, !*returned};
                       if (--*left == 0) shard.runtime().RequestStop();
                     });
      *returned = true;
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(run.ok()) << run;
  return outcomes;
}

MaildirMessage For(const std::string& local_part) {
  MaildirMessage m;
  m.domain = "local.example";
  m.local_part = local_part;
  m.return_path = "a@x";
  m.delivered_to = local_part + "@local.example";
  return m;
}

TEST(MaildirWriterTest, WritesIntoNewWithHeadersAndUnixLinesThroughTheRing) {
  const testing::ScratchDir scratch("maildir-ring");
  const std::string root = scratch / "mail";
  const std::vector<Outcome> outcomes =
      DeliverAll(root, {For("Bob"), For("bob"), For("carol")}, "Subject: s\r\n\r\nline\r\nbare\rcr\r\n");
  ASSERT_EQ(outcomes.size(), 3u);
  for (const Outcome& o : outcomes) {
    ASSERT_TRUE(o.status.ok()) << o.status;
    EXPECT_FALSE(o.answered_inside_deliver);
  }
  EXPECT_EQ(outcomes[0].path.rfind(root + "/local.example/bob/new/", 0), 0u) << outcomes[0].path;
  EXPECT_NE(outcomes[0].path, outcomes[1].path);  // one file per delivery
  EXPECT_EQ(ReadFile(outcomes[0].path),
            "Return-Path: <a@x>\nDelivered-To: Bob@local.example\nSubject: s\n\nline\nbare\rcr\n");
  EXPECT_EQ(ReadFile(outcomes[2].path),
            "Return-Path: <a@x>\nDelivered-To: carol@local.example\nSubject: s\n\nline\nbare\rcr\n");
  EXPECT_TRUE(std::filesystem::is_empty(root + "/local.example/bob/tmp"));
  EXPECT_TRUE(std::filesystem::is_directory(root + "/local.example/bob/cur"));
  struct stat st {};
  ASSERT_EQ(stat((root + "/local.example/bob").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(MaildirWriterTest, AnUnsafeNameIsRefusedAfterDeliverReturnsAndCreatesNothing) {
  const testing::ScratchDir scratch("maildir-ring-unsafe");
  const std::string root = scratch / "mail";
  const std::vector<Outcome> outcomes = DeliverAll(root, {For("../etc")}, "x\r\n");
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(absl::IsInvalidArgument(outcomes[0].status)) << outcomes[0].status;
  EXPECT_FALSE(outcomes[0].answered_inside_deliver);
  EXPECT_FALSE(std::filesystem::exists(root));
}

TEST(MaildirWriterTest, AFolderThatCannotBeMadeFailsWithItsErrnoAndLeavesNoFile) {
  const testing::ScratchDir scratch("maildir-ring-blocked");
  const std::string root = scratch / "mail";
  std::filesystem::create_directories(root + "/local.example");
  std::ofstream(root + "/local.example/bob") << "a file where the Maildir should be";
  const std::vector<Outcome> outcomes = DeliverAll(root, {For("bob")}, "x\r\n");
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_FALSE(outcomes[0].status.ok());
  EXPECT_NE(outcomes[0].status.message().find("local.example/bob"), std::string::npos) << outcomes[0].status;
  EXPECT_TRUE(outcomes[0].path.empty());
  EXPECT_EQ(ReadFile(root + "/local.example/bob"), "a file where the Maildir should be");
}

}  // namespace
}  // namespace ringpost::queue
