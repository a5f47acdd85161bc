// Store::Open against a damaged or half-made data directory (issue 12): a
// missing or mismatched piece of a store is DataLoss and changes no file; the
// creation of a store is atomic, also when its process is killed.

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>

#include "leyser/store.h"

#include "lib/crypto/sodium.h"
#include "lib/rocks/options.h"
#include "lib/store/store_impl.h"
#include "lib/util/files.h"
#include "tests/test/spawn.h"
#include "tests/test/store_fixture.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

namespace fs = std::filesystem;
using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;

constexpr int kTenants = 2;
constexpr int kTableKeys = 200;  // Compacted into SST files.
constexpr int kLogKeys = 50;     // Written after, so only in the WAL.

// Every file, directory and symlink under `root` (path relative to `root`)
// -> a BLAKE2b-256 hash of its content ("dir" for a directory). LOCK is
// included: an Open takes it with O_CREAT and flock, which changes no byte.
std::map<std::string, std::string> HashTree(const std::string& root) {
  EXPECT_THAT(internal::EnsureSodium(), IsOk());
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root);
       it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = fs::relative(it->path(), root).string();
    if (it->is_symlink()) {
      out[name] = "symlink " + fs::read_symlink(it->path()).string();
    } else if (it->is_directory()) {
      out[name] = "dir";
    } else {
      absl::StatusOr<std::string> content =
          internal::ReadFileToString(it->path().string());
      EXPECT_THAT(content, IsOk());
      unsigned char hash[32];
      crypto_generichash(
          hash, sizeof(hash),
          reinterpret_cast<const unsigned char*>(content->data()),
          content->size(), nullptr, 0);
      out[name] = absl::BytesToHexString(
          std::string(reinterpret_cast<const char*>(hash), sizeof(hash)));
    }
  }
  return out;
}

// Names of the entries of `dir` that start with `prefix` or end with
// `suffix` (either may be empty).
std::vector<std::string> Entries(const std::string& dir,
                                 const std::string& prefix,
                                 const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if ((!prefix.empty() && absl::StartsWith(name, prefix)) ||
        (!suffix.empty() && absl::EndsWith(name, suffix))) {
      out.push_back(name);
    }
  }
  return out;
}

std::string Value(int tenant, const std::string& key) {
  return absl::StrCat("value of ", key, " in t", tenant);
}

class OpenTest : public test::StoreFixture {
 protected:
  std::string Path(const std::string& relative) const {
    return options_.data_dir + "/" + relative;
  }
  std::string KeyFile() const { return tmp_.Sub("master.key"); }

  // A store with tenants t0 and t1: keys in SST files and in the WAL.
  void MakeStore() {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    for (int t = 0; t < kTenants; ++t) {
      ASSERT_THAT(store->CreateTenant(absl::StrCat("t", t)), IsOk());
      auto tenant = store->OpenTenant(absl::StrCat("t", t));
      ASSERT_THAT(tenant, IsOk());
      for (int i = 0; i < kTableKeys; ++i) {
        const std::string key = absl::StrCat("k", i);
        ASSERT_THAT((*tenant)->Put(key, Value(t, key)), IsOk());
      }
    }
    ASSERT_THAT(internal::CompactAllForTesting(*store), IsOk());
    for (int t = 0; t < kTenants; ++t) {
      auto tenant = store->OpenTenant(absl::StrCat("t", t));
      ASSERT_THAT(tenant, IsOk());
      for (int i = 0; i < kLogKeys; ++i) {
        const std::string key = absl::StrCat("w", i);
        ASSERT_THAT((*tenant)->Put(key, Value(t, key)), IsOk());
      }
    }
    ASSERT_THAT(store->Close(), IsOk());
    // A wipe would lose something real.
    ASSERT_FALSE(Entries(Path("db"), "", ".sst").empty());
    ASSERT_FALSE(Entries(Path("db"), "", ".log").empty());
  }

  // Every value MakeStore wrote is there.
  void ExpectEveryValue(Store& store) {
    for (int t = 0; t < kTenants; ++t) {
      auto tenant = store.OpenTenant(absl::StrCat("t", t));
      ASSERT_THAT(tenant, IsOk());
      for (int i = 0; i < kTableKeys; ++i) {
        const std::string key = absl::StrCat("k", i);
        ASSERT_THAT((*tenant)->Get(key), IsOkAndHolds(Value(t, key)));
      }
      for (int i = 0; i < kLogKeys; ++i) {
        const std::string key = absl::StrCat("w", i);
        ASSERT_THAT((*tenant)->Get(key), IsOkAndHolds(Value(t, key)));
      }
    }
  }

  // The store in `options.data_dir` opens (creating what an interrupted
  // creation left undone), takes a tenant and a value, and opens again
  // without create_if_missing.
  void ExpectUsableStore(Options options) {
    options.create_if_missing = true;
    {
      auto store = Store::Open(options);
      ASSERT_THAT(store, IsOk());
      ASSERT_THAT((*store)->ListTenants(), IsOkAndHolds(testing::IsEmpty()));
      auto info = (*store)->CreateTenant("fresh");
      ASSERT_THAT(info, IsOk());
      EXPECT_EQ(info->number, 1u);
      auto tenant = (*store)->OpenTenant("fresh");
      ASSERT_THAT(tenant, IsOk());
      ASSERT_THAT((*tenant)->Put("k", "v"), IsOk());
      EXPECT_THAT((*tenant)->Get("k"), IsOkAndHolds(std::string("v")));
    }
    EXPECT_FALSE(fs::exists(options.data_dir + "/CREATING"));
    options.create_if_missing = false;
    auto store = Store::Open(options);
    ASSERT_THAT(store, IsOk());
    auto tenant = (*store)->OpenTenant("fresh");
    ASSERT_THAT(tenant, IsOk());
    EXPECT_THAT((*tenant)->Get("k"), IsOkAndHolds(std::string("v")));
  }
};

// A piece of a store that goes missing: `remove` takes it away (keeping it
// under `aside`), `put_back` returns it, and the error names `named`
// (relative to the data directory).
struct Piece {
  std::string name;
  std::string named;
  std::function<void(const std::string& dir, const std::string& aside)> remove;
  std::function<void(const std::string& dir, const std::string& aside)>
      put_back;
};

// A piece that is a set of paths, moved to `aside` and back.
Piece Paths(
    std::string name,
    std::function<std::vector<std::string>(const std::string& dir)> paths) {
  auto moved = std::make_shared<std::vector<std::string>>();
  Piece piece;
  piece.name = std::move(name);
  piece.remove = [paths, moved](const std::string& dir,
                                const std::string& aside) {
    *moved = paths(dir);
    ASSERT_FALSE(moved->empty());
    fs::create_directories(aside);
    for (std::size_t i = 0; i < moved->size(); ++i) {
      fs::rename(dir + "/" + (*moved)[i], aside + "/" + std::to_string(i));
    }
  };
  piece.put_back = [moved](const std::string& dir, const std::string& aside) {
    for (std::size_t i = 0; i < moved->size(); ++i) {
      fs::rename(aside + "/" + std::to_string(i), dir + "/" + (*moved)[i]);
    }
  };
  return piece;
}

std::vector<std::string> WithPrefix(const std::string& dir,
                                    const std::string& sub,
                                    const std::string& prefix) {
  std::vector<std::string> out;
  for (const std::string& name : Entries(dir + "/" + sub, prefix, "")) {
    out.push_back(sub + "/" + name);
  }
  return out;
}

// Deletes the key store's metadata record through RocksDB, keeping its bytes
// to put back.
Piece KeyStoreMeta() {
  auto bytes = std::make_shared<std::string>();
  Piece piece;
  piece.name = "key_store_meta_record";
  piece.named = "keys";
  auto with_db = [](const std::string& dir,
                    const std::function<void(rocksdb::DB*)>& f) {
    rocksdb::Options options = internal::KeyStoreRocksOptions();
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, dir + "/keys", &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
    f(db);
    ASSERT_TRUE(db->Close().ok());
    delete db;
  };
  piece.remove = [bytes, with_db](const std::string& dir, const std::string&) {
    with_db(dir, [&](rocksdb::DB* db) {
      ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "m/meta", bytes.get()).ok());
      ASSERT_TRUE(db->Delete(internal::SyncWrite(), "m/meta").ok());
    });
  };
  piece.put_back = [bytes, with_db](const std::string& dir,
                                    const std::string&) {
    with_db(dir, [&](rocksdb::DB* db) {
      ASSERT_TRUE(db->Put(internal::SyncWrite(), "m/meta", *bytes).ok());
    });
  };
  return piece;
}

std::vector<Piece> AllPieces() {
  std::vector<Piece> pieces;
  auto fixed = [](std::vector<std::string> paths) {
    return [paths](const std::string&) { return paths; };
  };
  pieces.push_back(Paths("data_db_dir", fixed({"db"})));
  pieces.back().named = "db";
  pieces.push_back(Paths("data_db_current", fixed({"db/CURRENT"})));
  pieces.back().named = "db/CURRENT";
  pieces.push_back(Paths("data_db_current_and_wal", [](const std::string& dir) {
    std::vector<std::string> out = {"db/CURRENT"};
    for (const std::string& log : Entries(dir + "/db", "", ".log")) {
      out.push_back("db/" + log);
    }
    return out;
  }));
  pieces.back().named = "db/CURRENT";
  pieces.push_back(Paths("data_db_manifest", [](const std::string& dir) {
    return WithPrefix(dir, "db", "MANIFEST-");
  }));
  pieces.back().named = "db/MANIFEST-";
  pieces.push_back(Paths("key_store_dir", fixed({"keys"})));
  pieces.back().named = "keys";
  pieces.push_back(Paths("key_store_current", fixed({"keys/CURRENT"})));
  pieces.back().named = "keys/CURRENT";
  pieces.push_back(Paths("key_store_manifest", [](const std::string& dir) {
    return WithPrefix(dir, "keys", "MANIFEST-");
  }));
  pieces.back().named = "keys/MANIFEST-";
  pieces.push_back(KeyStoreMeta());
  return pieces;
}

// RocksDB 7.8.3 leaves the empty WAL of every open until a flush: a store
// opened often without writing (leyserctl, a restarting service) gathered one
// per open in db/ and in keys/, each read again at every later open. The
// values in the WAL of the first reopen must survive the clean-up.
TEST_F(OpenTest, ReopeningLeavesNoPileOfEmptyWriteAheadLogs) {
  MakeStore();
  for (int round = 0; round < 12; ++round) {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ExpectEveryValue(*store);
    if (round == 5) {  // A write now and then, left in the WAL.
      auto tenant = store->OpenTenant("t0");
      ASSERT_THAT(tenant, IsOk());
      ASSERT_THAT((*tenant)->Put("late", "value"), IsOk());
    }
    ASSERT_THAT(store->Close(), IsOk());
  }
  EXPECT_LE(Entries(Path("db"), "", ".log").size(), 2u);
  EXPECT_LE(Entries(Path("keys"), "", ".log").size(), 2u);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ExpectEveryValue(*store);
  auto tenant = store->OpenTenant("t0");
  ASSERT_THAT(tenant, IsOk());
  EXPECT_THAT((*tenant)->Get("late"), IsOkAndHolds(std::string("value")));
}

class MissingPieceTest : public OpenTest,
                         public testing::WithParamInterface<std::string> {};

// Issue 12: each missing piece is DataLoss naming it, with or without
// create_if_missing, and no file under the data directory changes; with the
// piece put back, the store opens with every value.
TEST_P(MissingPieceTest, IsDataLossAndChangesNoFile) {
  MakeStore();
  Piece piece;
  for (Piece& p : AllPieces()) {
    if (p.name == GetParam()) piece = std::move(p);
  }
  ASSERT_EQ(piece.name, GetParam());
  const std::string aside = tmp_.Sub("aside");
  piece.remove(options_.data_dir, aside);
  const auto before = HashTree(options_.data_dir);
  for (bool create : {true, false}) {
    SCOPED_TRACE(create ? "create_if_missing" : "no create_if_missing");
    Options o = options_;
    o.create_if_missing = create;
    auto store = Store::Open(o);
    ASSERT_THAT(store, StatusIs(absl::StatusCode::kDataLoss));
    const std::string message(store.status().message());
    EXPECT_TRUE(absl::StrContains(message, Path(piece.named))) << message;
    EXPECT_TRUE(absl::StrContains(message, "restore") ||
                absl::StrContains(message, "put it back") ||
                absl::StrContains(message, "put back"))
        << message;
    EXPECT_EQ(HashTree(options_.data_dir), before);
  }
  piece.put_back(options_.data_dir, aside);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ExpectEveryValue(*store);
  auto next = store->CreateTenant("next");
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->number, static_cast<std::uint64_t>(kTenants + 1));
}

INSTANTIATE_TEST_SUITE_P(
    Pieces, MissingPieceTest,
    testing::Values("data_db_dir", "data_db_current", "data_db_current_and_wal",
                    "data_db_manifest", "key_store_dir", "key_store_current",
                    "key_store_manifest", "key_store_meta_record"),
    [](const testing::TestParamInfo<std::string>& piece) {
      return piece.param;
    });

// The key store of another store next to this database: DataLoss before any
// file changes (the data database's files do not open with its file key).
TEST_F(OpenTest, KeyStoreOfAnotherStoreIsDataLossAndChangesNoFile) {
  MakeStore();
  Options other = options_;
  other.data_dir = tmp_.Sub("other");
  { ASSERT_NE(OpenStore(other), nullptr); }
  fs::rename(Path("keys"), tmp_.Sub("own-keys"));
  fs::rename(other.data_dir + "/keys", Path("keys"));
  const auto before = HashTree(options_.data_dir);
  auto store = Store::Open(options_);
  ASSERT_THAT(store, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(store.status().message(), Path("db/CURRENT")))
      << store.status();
  EXPECT_EQ(HashTree(options_.data_dir), before);
  fs::remove_all(Path("keys"));
  fs::rename(tmp_.Sub("own-keys"), Path("keys"));
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  ExpectEveryValue(*reopened);
}

// The crash points of a store's creation, in order, and whether an Open
// without create_if_missing finds a store after a kill there (the creation is
// complete once both parts are in place).
struct CreationStep {
  const char* point;
  bool complete;
};
constexpr CreationStep kCreationSteps[] = {
    {"create_store.after_staging_dir", false},
    {"create_store.after_key_store", false},
    {"create_store.after_data_db", false},
    {"create_store.after_registry", false},
    {"create_store.after_move_keys", true},
    {"create_store.after_move_db", true},
};

// Issue 12: a creation killed at each step; the next Open completes or redoes
// it, and the store works. Without create_if_missing, an unfinished creation
// is NotFound and changes nothing.
TEST_F(OpenTest, CreationKilledAtEachStepIsCompletedByTheNextOpen) {
  for (const CreationStep& step : kCreationSteps) {
    SCOPED_TRACE(step.point);
    Options o = options_;
    o.data_dir = tmp_.Sub(step.point);
    {
      test::Child child({test::CrashChildPath(), "create", o.data_dir,
                         KeyFile(), step.point});
      const int status = child.Wait();
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << "wait status " << status;
    }
    ASSERT_TRUE(fs::exists(o.data_dir + "/CREATING"));
    Options no_create = o;
    no_create.create_if_missing = false;
    if (step.complete) {
      ASSERT_THAT(Store::Open(no_create), IsOk());
    } else {
      const auto before = HashTree(o.data_dir);
      EXPECT_THAT(Store::Open(no_create),
                  StatusIs(absl::StatusCode::kNotFound));
      EXPECT_EQ(HashTree(o.data_dir), before);
    }
    ExpectUsableStore(o);
  }
}

// A creation redone after a kill, itself killed while it removes what the
// first one left: the next Open still creates the store.
TEST_F(OpenTest, RedoKilledWhileDiscardingIsCompletedByTheNextOpen) {
  Options o = options_;
  for (const char* point :
       {"create_store.after_registry", "create_store.discard_after_current"}) {
    test::Child child(
        {test::CrashChildPath(), "create", o.data_dir, KeyFile(), point});
    const int status = child.Wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << point << ": wait status " << status;
  }
  ASSERT_TRUE(fs::exists(o.data_dir + "/CREATING"));
  ASSERT_FALSE(fs::exists(o.data_dir + "/CREATING/keys/CURRENT"));
  ExpectUsableStore(o);
}

// What a killed creation left in `dir`.
std::string CreationState(const std::string& dir) {
  const bool creating = fs::exists(dir + "/CREATING");
  const bool keys = fs::exists(dir + "/keys");
  const bool db = fs::exists(dir + "/db");
  if (!creating) return keys || db ? "complete" : "nothing";
  if (!keys) return "being built in CREATING";
  return db ? "both parts moved" : "key store moved";
}

// Issue 12: a process killed at random moments of a store's creation (no
// crash point armed); the next Open always succeeds and the store works.
TEST_F(OpenTest, CreationKilledAtRandomMomentsIsCompletedByTheNextOpen) {
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  // Kills spread over the whole creation: at least 150 ms, or longer if an
  // uninterrupted creation takes longer on this machine.
  absl::Duration span = absl::Milliseconds(150);
  {
    const absl::Time start = absl::Now();
    test::Child child({test::CrashChildPath(), "create", tmp_.Sub("timed"),
                       KeyFile(), "none"});
    std::string line;
    ASSERT_TRUE(child.ReadLine(&line));
    ASSERT_EQ(line, "CREATED");
    span = std::max(span, (absl::Now() - start) * 1.2);
  }
  constexpr int kRuns = 40;
  int unfinished = 0;
  std::map<std::string, int> states;
  for (int run = 0; run < kRuns; ++run) {
    const absl::Duration delay = absl::Microseconds(
        rng() % static_cast<std::uint64_t>(absl::ToInt64Microseconds(span)));
    SCOPED_TRACE(absl::StrCat("run ", run, ", kill after ",
                              absl::FormatDuration(delay)));
    Options o = options_;
    o.data_dir = tmp_.Sub(absl::StrCat("run-", run));
    {
      test::Child child(
          {test::CrashChildPath(), "create", o.data_dir, KeyFile(), "none"});
      std::string line;
      const bool created = delay > absl::ZeroDuration() &&
                           child.ReadLine(&line, delay) && line == "CREATED";
      child.Kill();
      if (!created) ++unfinished;
    }
    ++states[fs::exists(o.data_dir) ? CreationState(o.data_dir) : "nothing"];
    ExpectUsableStore(o);
    if (HasFatalFailure()) return;
  }
  std::cout << "[ kills    ] over " << absl::FormatDuration(span) << ": "
            << unfinished << " of " << kRuns
            << " runs killed before the creation returned; left:";
  for (const auto& [state, count] : states) {
    std::cout << " " << state << " " << count << ";";
  }
  std::cout << "\n";
  EXPECT_GT(unfinished, 0);
}

// A CREATING directory that leyser did not leave: next to a store it is
// removed only when empty; holding anything it is DataLoss and nothing
// changes.
TEST_F(OpenTest, StrayCreationDirNextToAStoreLosesNothing) {
  MakeStore();
  const std::string creating = Path("CREATING");
  fs::create_directory(creating);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ExpectEveryValue(*store);
  }
  EXPECT_FALSE(fs::exists(creating));

  fs::create_directory(creating);
  fs::copy(Path("keys"), creating + "/keys", fs::copy_options::recursive);
  fs::copy(Path("db"), creating + "/db", fs::copy_options::recursive);
  const auto before = HashTree(options_.data_dir);
  auto refused = Store::Open(options_);
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), creating))
      << refused.status();
  EXPECT_EQ(HashTree(options_.data_dir), before);

  // Next to a store whose data database is gone, the stray db/ in CREATING is
  // not moved into its place either.
  fs::rename(Path("db"), tmp_.Sub("own-db"));
  const auto without_db = HashTree(options_.data_dir);
  refused = Store::Open(options_);
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), creating))
      << refused.status();
  EXPECT_EQ(HashTree(options_.data_dir), without_db);

  fs::remove_all(creating);
  fs::rename(tmp_.Sub("own-db"), Path("db"));
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ExpectEveryValue(*store);
}

// A CREATING directory holding a database with tables, and no store next to
// it, is no creation leyser left (a creation never writes a table): DataLoss,
// and nothing is removed.
TEST_F(OpenTest, CreationDirHoldingTablesIsNeverRemoved) {
  MakeStore();
  const std::string creating = Path("CREATING");
  fs::create_directory(creating);
  fs::rename(Path("keys"), creating + "/keys");
  fs::rename(Path("db"), creating + "/db");
  const auto before = HashTree(options_.data_dir);
  auto store = Store::Open(options_);
  ASSERT_THAT(store, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(store.status().message(), creating))
      << store.status();
  EXPECT_EQ(HashTree(options_.data_dir), before);
}

// A CREATING whose key store holds a tenant key (in its WAL only: no table
// file) is no creation leyser left: DataLoss, and nothing is removed.
TEST_F(OpenTest, CreationDirHoldingTenantKeysIsNeverRemoved) {
  const std::string keys = Path("CREATING/keys");
  fs::create_directories(keys);
  {
    rocksdb::Options options = internal::KeyStoreRocksOptions();
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, keys, &db).ok());
    ASSERT_TRUE(db->Put(internal::SyncWrite(),
                        std::string("d/\0\0\0\0\0\0\0\1", 10), "a wrapped key")
                    .ok());
    ASSERT_TRUE(db->Close().ok());
    delete db;
  }
  ASSERT_TRUE(Entries(keys, "", ".sst").empty());
  const auto before = HashTree(options_.data_dir);
  auto store = Store::Open(options_);
  ASSERT_THAT(store, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(store.status().message(), "tenant keys"))
      << store.status();
  // The only new file is the (empty) lock the Open took: no store ran here.
  auto after = HashTree(options_.data_dir);
  EXPECT_EQ(after.erase("LOCK"), 1u);
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace leyser
