// The file sink (lib/audit/file_sink.cc) against what an operator's disk does
// to it: a torn append, a write cut off by the file-size limit, a garbage
// line, a missing or empty file, a rotation; and reading rotated files back.

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include <sys/resource.h>

#include "leyser/leyser.h"

#include "lib/util/files.h"
#include "tests/test/store_fixture.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::StatusIs;

class FileSinkTest : public test::StoreFixture {
 protected:
  FileSinkTest() { options_.audit_sink = NewFileAuditSink(anchors()).value(); }

  std::string anchors() const { return tmp_.Sub("anchors.jsonl"); }

  std::string Content(const std::string& path) {
    return internal::ReadFileToString(path).value_or("");
  }

  std::vector<std::string> Lines(const std::string& path) {
    return absl::StrSplit(Content(path), '\n', absl::SkipEmpty());
  }

  // Writes `puts` keys to tenant `id` (created with write auditing if
  // missing), takes a backup (entries in the system log), then anchors every
  // log.
  void Activity(Store& store, const std::string& id, int puts) {
    if (!store.GetTenantInfo(id).ok()) {
      ASSERT_THAT(store.CreateTenant(id), IsOk());
      ASSERT_THAT(store.SetAccessAudit(id, AccessAudit::kWrites), IsOk());
    }
    auto t = store.OpenTenant(id);
    ASSERT_THAT(t, IsOk());
    for (int i = 0; i < puts; ++i) {
      ASSERT_THAT((*t)->Put(absl::StrCat("k", i), "v"), IsOk());
    }
    ASSERT_THAT(store.CreateBackup(), IsOk());
    ASSERT_THAT(store.AnchorAuditLogs(), IsOk());
  }

  // Opens the store, runs Activity and closes it.
  void ActivityInARun(const std::string& id, int puts) {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_NO_FATAL_FAILURE(Activity(*store, id, puts));
    ASSERT_THAT(store->Close(), IsOk());
  }

  // Verifies `log` against the checkpoints in `files`.
  AuditVerification Verify(Store& store, std::string_view log,
                           const std::vector<std::string>& files) {
    AuditVerifyOptions trusted;
    auto read = ReadAuditCheckpointFiles(files);
    EXPECT_THAT(read, IsOk());
    if (read.ok()) trusted.trusted_checkpoints = read->notes;
    auto v = store.VerifyAuditLog(log, trusted);
    EXPECT_THAT(v, IsOk());
    return v.ok() ? *v : AuditVerification{};
  }

  // Runs `f` with this process's file-size limit at `limit` bytes (SIGXFSZ
  // ignored, so an over-long write fails with EFBIG), then restores both.
  absl::Status UnderFileSizeLimit(std::size_t limit,
                                  const std::function<absl::Status()>& f) {
    struct rlimit old;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) std::abort();
    void (*old_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = limit;
    if (setrlimit(RLIMIT_FSIZE, &small) != 0) std::abort();
    const absl::Status result = f();
    if (setrlimit(RLIMIT_FSIZE, &old) != 0) std::abort();
    std::signal(SIGXFSZ, old_handler);
    return result;
  }

  void Append(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out << bytes;
  }
};

// An append cut off by the file-size limit leaves nothing behind; a torn line
// a crash left (the cut-off never ran) is ended by the next append. Every
// complete checkpoint is read, the open check and verification work.
TEST_F(FileSinkTest, ATornLineCostsOnlyItself) {
  ASSERT_NO_FATAL_FAILURE(ActivityInARun("t", 5));
  const std::vector<std::string> before = Lines(anchors());
  ASSERT_GE(before.size(), 2u);

  // The file-size limit cuts the next line off part-way: Publish fails, and
  // the part written is removed.
  {
    auto sink = NewFileAuditSink(anchors()).value();
    AuditCheckpoint cp =
        ParseAuditCheckpoint(
            ReadAuditCheckpointFiles({anchors()}).value().notes.back())
            .value();
    const absl::Status published = UnderFileSizeLimit(
        Content(anchors()).size() + 40, [&] { return sink->Publish(cp); });
    EXPECT_THAT(published, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_TRUE(absl::StrContains(published.message(), anchors())) << published;
    EXPECT_EQ(Lines(anchors()), before);
  }
  // A crash in the middle of an append (nothing cut it off).
  Append(anchors(), before.back().substr(0, before.back().size() / 2));

  ASSERT_NO_FATAL_FAILURE(
      ActivityInARun("t", 5));  // The open check reads past the torn line.

  auto read = ReadAuditCheckpointFiles({anchors()});
  ASSERT_THAT(read, IsOk());
  ASSERT_EQ(read->damaged_lines.size(), 1u);
  EXPECT_TRUE(
      absl::StrContains(read->damaged_lines[0],
                        absl::StrCat(anchors(), " line ", before.size() + 1)))
      << read->damaged_lines[0];
  // Every complete line is a checkpoint that was read.
  EXPECT_EQ(read->notes.size(), Lines(anchors()).size() - 1);
  EXPECT_GT(read->notes.size(), before.size());

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (std::string_view log : {std::string_view("t"), kSystemAuditLog}) {
    const AuditVerification v = Verify(*store, log, {anchors()});
    EXPECT_TRUE(v.intact) << v.problem;
    EXPECT_GT(v.trusted_checkpoints_applied, 0u) << log;
  }
}

// PublishAll: many logs' checkpoints appended as whole lines with one call
// (a batch of purges anchors its tenants' logs so), each read back; a batch
// cut off by the file-size limit leaves none of its lines behind.
TEST_F(FileSinkTest, ABatchOfCheckpointsIsAppendedWholeOrNotAtAll) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(absl::StrCat("t", i));
    ASSERT_THAT(store->CreateTenant(ids.back()), IsOk());
  }
  const std::size_t before = Lines(anchors()).size();
  // Twenty new logs anchored at once: their checkpoints go to the sink in
  // one PublishAll.
  ASSERT_THAT(store->AnchorAuditLogs(), IsOk());
  const std::size_t after = Lines(anchors()).size();
  EXPECT_GE(after, before + 20);
  auto read = ReadAuditCheckpointFiles({anchors()});
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->damaged_lines.empty());
  EXPECT_EQ(read->notes.size(), after);

  // The same batch again, cut off by the file-size limit part-way.
  std::vector<AuditCheckpoint> batch;
  for (const std::string& note : read->notes) {
    batch.push_back(ParseAuditCheckpoint(note).value());
  }
  auto sink = NewFileAuditSink(anchors()).value();
  const absl::Status published = UnderFileSizeLimit(
      Content(anchors()).size() + 600, [&] { return sink->PublishAll(batch); });
  EXPECT_THAT(published, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(Lines(anchors()).size(), after);
  // And whole.
  ASSERT_THAT(sink->PublishAll(batch), IsOk());
  read = ReadAuditCheckpointFiles({anchors()});
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->notes.size(), after + batch.size());
  EXPECT_TRUE(read->damaged_lines.empty());
}

// A garbage line in the middle is reported by line and skipped; the
// checkpoints around it still count (for verification and the open check).
TEST_F(FileSinkTest, AGarbageLineInTheMiddleIsReportedAndSkipped) {
  ASSERT_NO_FATAL_FAILURE(ActivityInARun("t", 5));
  std::vector<std::string> lines = Lines(anchors());
  ASSERT_GE(lines.size(), 2u);
  lines.insert(lines.begin() + 1, "{\"origin\": not json at all");
  test::WriteFile(anchors(), absl::StrCat(absl::StrJoin(lines, "\n"), "\n"),
                  0600);

  auto read = ReadAuditCheckpointFiles({anchors()});
  ASSERT_THAT(read, IsOk());
  ASSERT_EQ(read->damaged_lines.size(), 1u);
  EXPECT_TRUE(absl::StrContains(read->damaged_lines[0], " line 2: "))
      << read->damaged_lines[0];
  EXPECT_EQ(read->notes.size(), lines.size() - 1);

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const AuditVerification v = Verify(*store, "t", {anchors()});
  EXPECT_TRUE(v.intact) << v.problem;
  EXPECT_GT(v.trusted_checkpoints_applied, 0u);
}

// A missing file (a typo in the path) is NotFound, never "no checkpoints"; an
// empty one (a rotation by truncation) holds none: verification then says
// that nothing external applied.
TEST_F(FileSinkTest, NothingAppliesFromAMissingOrEmptyFile) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Activity(*store, "t", 3);
  EXPECT_THAT(ReadAuditCheckpointFiles({tmp_.Sub("anchros.jsonl")}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ReadAuditCheckpointFiles({tmp_.Sub("none*")}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ReadAuditCheckpointFiles({}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  test::WriteFile(tmp_.Sub("empty.jsonl"), "", 0600);
  const AuditVerification v = Verify(*store, "t", {tmp_.Sub("empty.jsonl")});
  EXPECT_TRUE(v.intact) << v.problem;
  EXPECT_EQ(v.trusted_checkpoints_given, 0u);
  EXPECT_EQ(v.trusted_checkpoints_applied, 0u);
  EXPECT_GT(v.checkpoints_checked, 0u);  // The store's own still count.
  // With the sink's file, the external ones are counted apart.
  const AuditVerification anchored = Verify(*store, "t", {anchors()});
  EXPECT_GT(anchored.trusted_checkpoints_applied, 0u);
  EXPECT_GE(anchored.trusted_checkpoints_given,
            anchored.trusted_checkpoints_applied);
}

// A sink file emptied (a rotation by truncation) or moved away leaves the open
// check nothing to compare: the open goes ahead, but records and reports it;
// its own entry is anchored, so the next open compares again.
TEST_F(FileSinkTest, AnEmptiedSinkIsReportedAtOpen) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Activity(*store, "t", 3);
  auto status = store->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_FALSE(status->sink_held_none_at_open);
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  test::WriteFile(anchors(), "", 0600);

  store = OpenStore();
  ASSERT_NE(store, nullptr);
  status = store->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_TRUE(status->sink_held_none_at_open);
  auto entries = store->ReadAuditLog(kSystemAuditLog, 0, 1000);
  ASSERT_THAT(entries, IsOk());
  ASSERT_FALSE(entries->empty());
  EXPECT_EQ(entries->back().event, AuditEvent::kAnchorFailure);
  EXPECT_EQ(entries->back().details.at("at"), "open");
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  EXPECT_FALSE(Lines(anchors()).empty());  // The entry's checkpoint.

  store = OpenStore();
  ASSERT_NE(store, nullptr);
  status = store->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_FALSE(status->sink_held_none_at_open);
  // A store that never had a sink is not told so.
  Options fresh = options_;
  fresh.data_dir = tmp_.Sub("fresh");
  fresh.backup_dir.clear();
  auto other = OpenStore(fresh);
  ASSERT_NE(other, nullptr);
  status = other->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_FALSE(status->sink_held_none_at_open);
}

// A rotation keeps the newest checkpoint of each log in the new file, so the
// open check still catches a rollback; the rotated file and the new one read
// together (a pattern) give the whole history; appends go on in the new file.
TEST_F(FileSinkTest, RotationKeepsTheOpenCheckAndTheHistory) {
  ASSERT_NO_FATAL_FAILURE(ActivityInARun("t", 3));
  const std::string older = tmp_.Sub("older");
  std::filesystem::copy(options_.data_dir, older,
                        std::filesystem::copy_options::recursive);
  ASSERT_NO_FATAL_FAILURE(ActivityInARun("t", 3));

  const std::vector<std::string> before = Lines(anchors());
  auto rotated = RotateAuditCheckpointFile(anchors(), clock_->Now());
  ASSERT_THAT(rotated, IsOk());
  EXPECT_EQ(*rotated,
            absl::StrCat(anchors(), ".",
                         absl::FormatTime("%Y%m%dT%H%M%SZ", clock_->Now(),
                                          absl::UTCTimeZone())));
  EXPECT_EQ(Lines(*rotated), before);
  const std::vector<std::string> kept = Lines(anchors());
  EXPECT_EQ(kept.size(), 2u);  // The newest of the system log and of t.
  EXPECT_LT(kept.size(), before.size());
  // A second rotation in the same second gets its own name.
  auto again = RotateAuditCheckpointFile(anchors(), clock_->Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_NE(*again, *rotated);
  EXPECT_EQ(Lines(*again), kept);
  EXPECT_THAT(RotateAuditCheckpointFile(tmp_.Sub("none"), clock_->Now()),
              StatusIs(absl::StatusCode::kNotFound));

  // The older copy put back right after the rotation: the open check still
  // has the newest checkpoints.
  const std::string newer = tmp_.Sub("newer");
  std::filesystem::rename(options_.data_dir, newer);
  std::filesystem::copy(older, options_.data_dir,
                        std::filesystem::copy_options::recursive);
  EXPECT_THAT(Store::Open(options_), StatusIs(absl::StatusCode::kDataLoss));
  std::filesystem::remove_all(options_.data_dir);
  std::filesystem::rename(newer, options_.data_dir);

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Activity(*store, "t", 3);  // Appends to the new file.
  EXPECT_GT(Lines(anchors()).size(), kept.size());
  // Every file read by pattern: the history, each checkpoint once.
  const AuditVerification v = Verify(*store, "t", {anchors() + "*"});
  EXPECT_TRUE(v.intact) << v.problem;
  const AuditVerification current = Verify(*store, "t", {anchors()});
  EXPECT_GT(v.trusted_checkpoints_applied, current.trusted_checkpoints_applied);
}

}  // namespace
}  // namespace leyser
