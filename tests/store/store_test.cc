// Store and tenant behaviour through the public API: CRUD, iteration, batches,
// persistence, tampering, wrong master key, plaintext scan, concurrency and the
// bad-input catalogue.

#include "leyser/store.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "lib/crypto/sodium.h"
#include "lib/db/key_layout.h"
#include "lib/keys/key_store.h"
#include "tests/test/raw_db.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;
using testing::ElementsAre;
using testing::Pair;

class StoreTest : public testing::Test {
 protected:
  StoreTest()
      : clock_(std::make_shared<ManualClock>(test::SomeInstant())),
        provider_(test::NewTestKeyProvider(tmp_)),
        options_(test::TestOptions(tmp_, provider_, clock_)) {}

  std::unique_ptr<Store> OpenStore() {
    auto store = Store::Open(options_);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::unique_ptr<Tenant> NewTenant(Store& store, const std::string& id) {
    EXPECT_THAT(store.CreateTenant(id), IsOk());
    auto tenant = store.OpenTenant(id);
    EXPECT_THAT(tenant, IsOk());
    return tenant.ok() ? std::move(tenant).value() : nullptr;
  }

  static std::vector<std::pair<std::string, std::string>> Scan(
      const Tenant& tenant) {
    std::vector<std::pair<std::string, std::string>> out;
    auto it = tenant.NewIterator();
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.emplace_back(std::string(it->key()), std::string(it->value()));
    }
    EXPECT_THAT(it->status(), IsOk());
    return out;
  }

  test::TempDir tmp_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<KeyProvider> provider_;
  Options options_;
};

TEST_F(StoreTest, RoundTripOverwriteDelete) {
  auto store = OpenStore();
  auto t = NewTenant(*store, "acme");
  EXPECT_THAT(t->Get("k"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(t->Put("k", "v1"), IsOk());
  EXPECT_THAT(t->Get("k"), IsOkAndHolds(std::string("v1")));
  ASSERT_THAT(t->Put("k", "v2"), IsOk());
  EXPECT_THAT(t->Get("k"), IsOkAndHolds(std::string("v2")));
  ASSERT_THAT(t->Put("empty", ""), IsOk());
  EXPECT_THAT(t->Get("empty"), IsOkAndHolds(std::string("")));
  const std::string binary_key("\0\xff\x01", 3), binary_value("\0\0\xfe", 3);
  ASSERT_THAT(t->Put(binary_key, binary_value), IsOk());
  EXPECT_THAT(t->Get(binary_key), IsOkAndHolds(binary_value));
  ASSERT_THAT(t->Delete("k"), IsOk());
  EXPECT_THAT(t->Get("k"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(t->Delete("never-there"), IsOk());
  EXPECT_EQ(t->id(), "acme");
  EXPECT_EQ(t->number(), 1u);
}

TEST_F(StoreTest, IteratesInOrderWithSeek) {
  auto store = OpenStore();
  auto t = NewTenant(*store, "acme");
  auto neighbour = NewTenant(*store, "acme2");
  for (const char* k : {"b", "a", "d", "c", "aa"})
    ASSERT_THAT(t->Put(k, absl::StrCat("v-", k)), IsOk());
  ASSERT_THAT(neighbour->Put("a0", "x"), IsOk());
  ASSERT_THAT(neighbour->Put("", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Scan(*t), ElementsAre(Pair("a", "v-a"), Pair("aa", "v-aa"),
                                    Pair("b", "v-b"), Pair("c", "v-c"),
                                    Pair("d", "v-d")));
  auto it = t->NewIterator();
  it->Seek("ab");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "b");
  it->Seek("zz");
  EXPECT_FALSE(it->Valid());
  EXPECT_THAT(it->status(), IsOk());
  it->Seek("");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "a");
  // Keys only: no value opened, still ordered.
  std::vector<std::string> keys;
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_THAT(keys, ElementsAre("a", "aa", "b", "c", "d"));
  EXPECT_THAT(Scan(*NewTenant(*store, "empty")), ElementsAre());
}

TEST_F(StoreTest, IteratorSeesAPointInTimeView) {
  auto store = OpenStore();
  auto t = NewTenant(*store, "acme");
  ASSERT_THAT(t->Put("a", "1"), IsOk());
  auto it = t->NewIterator();
  ASSERT_THAT(t->Put("b", "2"), IsOk());
  ASSERT_THAT(t->Delete("a"), IsOk());
  it->SeekToFirst();
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "a");
  EXPECT_EQ(it->value(), "1");
  it->Next();
  EXPECT_FALSE(it->Valid());
}

TEST_F(StoreTest, BatchIsAtomic) {
  auto store = OpenStore();
  auto t = NewTenant(*store, "acme");
  ASSERT_THAT(t->Put("keep", "old"), IsOk());
  WriteBatch batch;
  batch.Put("x", "1");
  batch.Put("y", "2");
  batch.Delete("keep");
  batch.Put("x", "3");  // Later operations win.
  EXPECT_EQ(batch.Count(), 4u);
  ASSERT_THAT(t->Write(batch), IsOk());
  EXPECT_THAT(Scan(*t), ElementsAre(Pair("x", "3"), Pair("y", "2")));

  // One bad operation rejects the whole batch and writes nothing.
  WriteBatch bad;
  bad.Put("p", "1");
  bad.Delete("x");
  bad.Put(std::string(options_.max_key_bytes + 1, 'k'), "v");
  absl::Status s = t->Write(bad);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(s.message()).find("operation 2"), std::string::npos)
      << s;
  EXPECT_THAT(Scan(*t), ElementsAre(Pair("x", "3"), Pair("y", "2")));
  WriteBatch empty_key;
  empty_key.Delete("");
  EXPECT_THAT(t->Write(empty_key),
              StatusIs(absl::StatusCode::kInvalidArgument));
  batch.Clear();
  EXPECT_EQ(batch.Count(), 0u);
  EXPECT_THAT(t->Write(batch), IsOk());
}

TEST_F(StoreTest, PersistsAcrossReopen) {
  options_.sync_writes = true;
  {
    auto store = OpenStore();
    auto a = NewTenant(*store, "a");
    auto b = NewTenant(*store, "b");
    for (int i = 0; i < 100; ++i) {
      ASSERT_THAT(a->Put(absl::StrCat("k", i), absl::StrCat("a", i)), IsOk());
      ASSERT_THAT(b->Put(absl::StrCat("k", i), absl::StrCat("b", i)), IsOk());
    }
    ASSERT_THAT(a->Delete("k7"), IsOk());
  }
  clock_->Advance(absl::Hours(1));
  auto store = OpenStore();
  auto list = store->ListTenants();
  ASSERT_THAT(list, IsOk());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "a");
  EXPECT_EQ((*list)[0].number, 1u);
  EXPECT_EQ((*list)[0].state, TenantState::kActive);
  EXPECT_EQ((*list)[0].created, test::SomeInstant());
  EXPECT_EQ((*list)[1].id, "b");
  EXPECT_EQ((*list)[1].number, 2u);
  auto a = store->OpenTenant("a");
  auto b = store->OpenTenant("b");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_THAT((*a)->Get("k7"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*a)->Get("k8"), IsOkAndHolds(std::string("a8")));
  EXPECT_THAT((*b)->Get("k7"), IsOkAndHolds(std::string("b7")));
  EXPECT_EQ(Scan(**b).size(), 100u);
  // Numbers continue after a reopen and are never reused.
  auto c = store->CreateTenant("c");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->number, 3u);
  EXPECT_EQ(c->created, test::SomeInstant() + absl::Hours(1));
}

// Close closes: later calls on the store are refused, a second Close is OK,
// and handles opened before keep working until destroyed.
TEST_F(StoreTest, CloseRefusesLaterCallsAndKeepsOpenHandles) {
  auto store = OpenStore();
  auto t = NewTenant(*store, "acme");
  ASSERT_THAT(t->Put("k", "v"), IsOk());
  ASSERT_THAT(store->AnchorAuditLogs(), IsOk());  // Stays usable.
  ASSERT_THAT(store->CreateTenant("second"), IsOk());
  ASSERT_THAT(store->Close(), IsOk());
  EXPECT_THAT(store->Close(), IsOk());
  EXPECT_THAT(store->CreateTenant("third"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->OpenTenant("acme"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->ListTenants(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->RunMaintenance(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->AnchorAuditLogs(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(t->Get("k"), IsOkAndHolds(std::string("v")));
  ASSERT_THAT(t->Put("k2", "v2"), IsOk());
  t.reset();
  store.reset();
  store = OpenStore();
  auto again = store->OpenTenant("acme");
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT((*again)->Get("k2"), IsOkAndHolds(std::string("v2")));
  // TenantInfo carries the access-audit mode.
  EXPECT_EQ(store->GetTenantInfo("acme")->access_audit, AccessAudit::kOff);
  ASSERT_THAT(store->SetAccessAudit("acme", AccessAudit::kReadsAndWrites),
              IsOk());
  EXPECT_EQ(store->GetTenantInfo("acme")->access_audit,
            AccessAudit::kReadsAndWrites);
}

TEST_F(StoreTest, CreateTenantsIsAllOrNothing) {
  {
    auto store = OpenStore();
    ASSERT_THAT(store->CreateTenant("first"), IsOk());
    std::vector<std::string> ids;
    for (int i = 0; i < 500; ++i) ids.push_back(absl::StrCat("bulk-", i));
    auto created = store->CreateTenants(
        std::vector<std::string_view>(ids.begin(), ids.end()));
    ASSERT_THAT(created, IsOk());
    ASSERT_EQ(created->size(), 500u);
    for (int i = 0; i < 500; ++i) {
      EXPECT_EQ((*created)[i].id, ids[i]);
      EXPECT_EQ((*created)[i].number, 2u + i);
    }
    EXPECT_THAT(store->CreateTenants({}),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(store->CreateTenants({"x", "y", "x"}),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(store->CreateTenants({"x", "bad id"}),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(store->CreateTenants({"x", "bulk-7"}),
                StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_THAT(store->GetTenantInfo("x"),
                StatusIs(absl::StatusCode::kNotFound));  // Nothing made.
  }
  auto store = OpenStore();
  EXPECT_EQ(store->ListTenants()->size(), 501u);
  auto t = store->OpenTenant("bulk-499");
  ASSERT_THAT(t, IsOk());
  ASSERT_THAT((*t)->Put("k", "v"), IsOk());
  EXPECT_THAT((*t)->Get("k"), IsOkAndHolds(std::string("v")));
  auto next = store->CreateTenant("after");
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->number, 502u);
}

TEST_F(StoreTest, TenantInfoAndStateNames) {
  auto store = OpenStore();
  auto info = store->CreateTenant("t-1");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->id, "t-1");
  EXPECT_EQ(info->state, TenantState::kActive);
  auto again = store->GetTenantInfo("t-1");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->number, info->number);
  EXPECT_EQ(TenantStateName(TenantState::kActive), "ACTIVE");
  EXPECT_EQ(TenantStateName(TenantState::kEnded), "ENDED");
  EXPECT_EQ(TenantStateName(TenantState::kPurged), "PURGED");
  EXPECT_EQ(TenantStateName(TenantState::kShredded), "SHREDDED");
}

TEST_F(StoreTest, TenantCacheOfAnySizeServesTheSameData) {
  for (std::size_t cache : {0u, 1u, 2u, 1000u}) {
    SCOPED_TRACE(cache);
    test::TempDir tmp;
    Options o = test::TestOptions(tmp, test::NewTestKeyProvider(tmp));
    o.tenant_cache_size = cache;
    auto store = Store::Open(o);
    ASSERT_THAT(store, IsOk());
    for (int t = 0; t < 5; ++t) {
      ASSERT_THAT((*store)->CreateTenant(absl::StrCat("t", t)), IsOk());
    }
    for (int round = 0; round < 3; ++round) {
      for (int t = 0; t < 5; ++t) {
        auto tenant =
            (*store)->OpenTenant(absl::StrCat("t", t));  // Closed at once.
        ASSERT_THAT(tenant, IsOk());
        ASSERT_THAT((*tenant)->Put(absl::StrCat("r", round), absl::StrCat(t)),
                    IsOk());
        EXPECT_THAT((*tenant)->Get("r0"), IsOkAndHolds(absl::StrCat(t)));
      }
    }
    // A cached tenant still follows its lifecycle.
    ASSERT_THAT((*store)->EndContract("t4", absl::Now()), IsOk());
    EXPECT_THAT((*store)->OpenTenant("t4"),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
}

TEST_F(StoreTest, HandlesOutliveTheStoreObject) {
  auto store = OpenStore();
  auto t = NewTenant(*store, "acme");
  auto it = t->NewIterator();
  store.reset();
  ASSERT_THAT(t->Put("k", "v"), IsOk());
  EXPECT_THAT(t->Get("k"), IsOkAndHolds(std::string("v")));
  // The files stay open (and locked) until the last handle is gone.
  EXPECT_THAT(Store::Open(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  it.reset();
  t.reset();
  EXPECT_THAT(Store::Open(options_), IsOk());
}

TEST_F(StoreTest, SecondOpenOfTheSameStoreIsRefused) {
  auto store = OpenStore();
  auto second = Store::Open(options_);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Test 3: tampering with stored ciphertext.
TEST_F(StoreTest, TamperedOrMovedCiphertextIsDataLoss) {
  {
    auto store = OpenStore();
    auto a = NewTenant(*store, "a");
    auto b = NewTenant(*store, "b");
    ASSERT_THAT(a->Put("k1", "value of a/k1"), IsOk());
    ASSERT_THAT(a->Put("k2", "value of a/k2"), IsOk());
    ASSERT_THAT(a->Put("flip", "value of a/flip"), IsOk());
    ASSERT_THAT(b->Put("k1", "value of b/k1"), IsOk());
  }
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    const std::string a_k1 = raw.Get(internal::DataKey(1, "k1"));
    raw.Put(internal::DataKey(1, "k2"),
            a_k1);  // Moved to another key of the same tenant.
    raw.Put(internal::DataKey(2, "k1"),
            a_k1);  // Moved to the same key of another tenant.
    raw.Put(internal::DataKey(2, "new"),
            a_k1);  // Planted under a new key of another tenant.
    std::string flipped = raw.Get(internal::DataKey(1, "flip"));
    flipped[flipped.size() / 2] ^= 0x01;
    raw.Put(internal::DataKey(1, "flip"), flipped);
  }
  auto store = OpenStore();
  auto a = store->OpenTenant("a");
  auto b = store->OpenTenant("b");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_THAT((*a)->Get("k1"), IsOkAndHolds(std::string("value of a/k1")));
  EXPECT_THAT((*a)->Get("k2"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT((*a)->Get("flip"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT((*b)->Get("k1"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT((*b)->Get("new"), StatusIs(absl::StatusCode::kDataLoss));
  // The iterator stops at the first bad value and reports it.
  auto it = (*a)->NewIterator();
  it->SeekToFirst();
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "flip");
  EXPECT_EQ(it->value(), "");
  EXPECT_FALSE(it->Valid());
  EXPECT_THAT(it->status(), StatusIs(absl::StatusCode::kDataLoss));
  // No plaintext of another key leaks through any error message.
  absl::Status s = (*b)->Get("k1").status();
  EXPECT_EQ(std::string(s.message()).find("value of"), std::string::npos);
}

// Test 4: a wrong master key is refused before anything on disk changes.
TEST_F(StoreTest, WrongMasterKeyIsDeniedAndEveryFileIsUnchanged) {
  {
    auto store = OpenStore();
    auto t = NewTenant(*store, "acme");
    ASSERT_THAT(t->Put("k", "v"), IsOk());
  }
  const auto before = test::SnapshotFiles(options_.data_dir);
  ASSERT_FALSE(before.empty());
  Options wrong = options_;
  wrong.key_provider = test::NewTestKeyProvider(tmp_, "other.key");
  for (bool create : {false, true}) {
    wrong.create_if_missing = create;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(wrong);
    EXPECT_THAT(store, StatusIs(absl::StatusCode::kPermissionDenied));
  }
  // Only the note of the attempts for the audit log was added (recorded as
  // WRONG_MASTER_KEY entries at the next successful open).
  auto after = test::SnapshotFiles(options_.data_dir);
  EXPECT_EQ(after.erase("audit-pending"), 1u);
  EXPECT_EQ(after, before);
  auto store = OpenStore();  // The right key still works.
  auto t = store->OpenTenant("acme");
  ASSERT_THAT(t, IsOk());
  EXPECT_THAT((*t)->Get("k"), IsOkAndHolds(std::string("v")));
}

// Test 5: value markers never appear in any file under the data directory.
TEST_F(StoreTest, ValueMarkersNeverReachAnyFile) {
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  std::vector<std::string> markers;
  {
    auto store = OpenStore();
    for (int t = 0; t < 5; ++t) {
      auto tenant = NewTenant(*store, absl::StrCat("tenant", t));
      for (int i = 0; i < 200; ++i) {
        std::string marker(16, '\0');
        for (char& c : marker) c = static_cast<char>('A' + rng() % 26);
        marker = "MARK" + marker;
        markers.push_back(marker);
        ASSERT_THAT(tenant->Put(absl::StrCat("key", i),
                                marker + std::string(100, '.') + marker),
                    IsOk());
      }
    }
  }
  {
    // Flush to SST and compact, so the markers went through every kind of file.
    test::RawDataDb raw(options_.data_dir, *provider_);
    ASSERT_TRUE(raw.db()->Flush(rocksdb::FlushOptions(), raw.data()).ok());
    ASSERT_TRUE(raw.db()
                    ->CompactRange(rocksdb::CompactRangeOptions(), raw.data(),
                                   nullptr, nullptr)
                    .ok());
  }
  const auto files = test::SnapshotFiles(options_.data_dir);
  int sst_files = 0;
  for (const auto& [name, content] : files) {
    if (name.size() > 4 && name.substr(name.size() - 4) == ".sst") ++sst_files;
    for (const std::string& m : markers) {
      for (const std::string& form :
           {m, absl::BytesToHexString(m), absl::Base64Escape(m)}) {
        ASSERT_EQ(content.find(form), std::string::npos)
            << "marker found in " << name;
      }
    }
  }
  EXPECT_GE(sst_files, 1);
  // And everything still reads back.
  auto store = OpenStore();
  auto t = store->OpenTenant("tenant0");
  ASSERT_THAT(t, IsOk());
  EXPECT_THAT((*t)->Get("key0"),
              IsOkAndHolds(markers[0] + std::string(100, '.') + markers[0]));
}

// Test 6: several threads on several tenants; nothing lost.
TEST_F(StoreTest, ConcurrentWritersOnSeveralTenantsLoseNothing) {
  auto store = OpenStore();
  constexpr int kTenants = 4, kThreadsPerTenant = 2, kWrites = 1000;
  std::vector<std::unique_ptr<Tenant>> tenants;
  for (int t = 0; t < kTenants; ++t)
    tenants.push_back(NewTenant(*store, absl::StrCat("t", t)));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kTenants; ++t) {
    for (int w = 0; w < kThreadsPerTenant; ++w) {
      threads.emplace_back([&, t, w] {
        for (int i = 0; i < kWrites; ++i) {
          const std::string key = absl::StrCat("w", w, "-", i);
          if (i % 10 == 9) {
            WriteBatch batch;
            batch.Put(key, absl::StrCat(t, "/", key));
            batch.Put(key + "b", "b");
            if (!tenants[t]->Write(batch).ok()) ++failures;
          } else if (!tenants[t]->Put(key, absl::StrCat(t, "/", key)).ok()) {
            ++failures;
          }
          if (!tenants[t]->Get(key).ok()) ++failures;
        }
      });
    }
  }
  // Meanwhile, create and open tenants concurrently too.
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      if (!store->CreateTenant(absl::StrCat("late", i)).ok()) ++failures;
      if (!store->OpenTenant(absl::StrCat("t", i % kTenants)).ok()) ++failures;
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kTenants; ++t) {
    auto all = Scan(*tenants[t]);
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreadsPerTenant *
                                                   (kWrites + kWrites / 10)));
    for (const auto& [k, v] : all) {
      if (k.back() != 'b') {
        EXPECT_EQ(v, absl::StrCat(t, "/", k));
      }
    }
  }
  auto list = store->ListTenants();
  ASSERT_THAT(list, IsOk());
  EXPECT_EQ(list->size(), static_cast<std::size_t>(kTenants + 50));
}

// Issue 21: keys written under a larger Options::max_key_bytes stay readable,
// listed and erasable after the store is reopened with a smaller one; only
// new writes of such keys are refused.
TEST_F(StoreTest, KeysAboveALoweredLimitStayReadableAndErasable) {
  const std::string long_key(3000, 'k');
  options_.max_key_bytes = 4096;
  {
    auto store = OpenStore();
    auto t = NewTenant(*store, "acme");
    ASSERT_THAT(t->Put(long_key, "v"), IsOk());
    WriteBatch batch;
    batch.Put(long_key + "b", "w");
    ASSERT_THAT(t->Write(batch), IsOk());
  }
  options_.max_key_bytes = 1024;
  auto store = OpenStore();
  auto t = store->OpenTenant("acme");
  ASSERT_THAT(t, IsOk());
  EXPECT_THAT((*t)->Get(long_key), IsOkAndHolds(std::string("v")));
  EXPECT_THAT((*t)->Put(long_key, "new"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Scan(**t).size(), 2u);
  EXPECT_THAT((*t)->Delete(long_key), IsOk());
  WriteBatch erase;
  erase.Delete(long_key + "b");
  EXPECT_THAT((*t)->Write(erase), IsOk());
  EXPECT_TRUE(Scan(**t).empty());
}

// Test 7: the bad-input catalogue.
TEST_F(StoreTest, BadInputGetsItsCode) {
  auto store = OpenStore();
  auto t = NewTenant(*store, "acme");
  const std::string long_key(options_.max_key_bytes + 1, 'k');
  const std::string max_key(options_.max_key_bytes, 'k');
  const std::string long_value(options_.max_value_bytes + 1, 'v');
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

  for (const std::string& bad_id :
       {std::string(""), std::string(129, 'a'), std::string("a b"),
        std::string("a/b"), std::string("ü"), std::string("a\0b", 3),
        std::string("tab\t")}) {
    SCOPED_TRACE(absl::CEscape(bad_id));
    EXPECT_THAT(store->CreateTenant(bad_id), StatusIs(kInvalid));
    EXPECT_THAT(store->OpenTenant(bad_id), StatusIs(kInvalid));
    EXPECT_THAT(store->GetTenantInfo(bad_id), StatusIs(kInvalid));
  }
  EXPECT_THAT(store->CreateTenant("acme"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store->OpenTenant("nobody"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->GetTenantInfo("nobody"),
              StatusIs(absl::StatusCode::kNotFound));

  EXPECT_THAT(t->Put("", "v"), StatusIs(kInvalid));
  EXPECT_THAT(t->Get(""), StatusIs(kInvalid));
  EXPECT_THAT(t->Delete(""), StatusIs(kInvalid));
  EXPECT_THAT(t->Put(long_key, "v"), StatusIs(kInvalid));
  // Reads and deletes take keys up to kKeyBytesLimit (one written before the
  // limit was lowered must stay erasable), never beyond.
  EXPECT_THAT(t->Get(long_key), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(t->Delete(long_key), IsOk());
  const std::string too_long(kKeyBytesLimit + 1, 'k');
  EXPECT_THAT(t->Get(too_long), StatusIs(kInvalid));
  EXPECT_THAT(t->Delete(too_long), StatusIs(kInvalid));
  EXPECT_THAT(t->Put("k", long_value), StatusIs(kInvalid));
  EXPECT_THAT(t->Put(max_key, "at the limit"), IsOk());
  EXPECT_THAT(t->Get(max_key), IsOkAndHolds(std::string("at the limit")));
  // Nothing was lost or written by the rejected calls.
  EXPECT_EQ(Scan(*t).size(), 1u);

  // Options.
  Options bad = options_;
  bad.data_dir = "";
  EXPECT_THAT(Store::Open(bad), StatusIs(kInvalid));
  bad = options_;
  bad.key_provider = nullptr;
  EXPECT_THAT(Store::Open(bad), StatusIs(kInvalid));
  bad = options_;
  bad.clock = nullptr;
  EXPECT_THAT(Store::Open(bad), StatusIs(kInvalid));
  bad = options_;
  bad.max_key_bytes = 0;
  EXPECT_THAT(Store::Open(bad), StatusIs(kInvalid));
  bad.max_key_bytes = kKeyBytesLimit + 1;
  EXPECT_THAT(Store::Open(bad), StatusIs(kInvalid));
  bad = options_;
  bad.max_value_bytes = kValueBytesLimit + 1;
  EXPECT_THAT(Store::Open(bad), StatusIs(kInvalid));
  bad = options_;
  bad.data_dir = tmp_.Sub("absent");
  bad.create_if_missing = false;
  EXPECT_THAT(Store::Open(bad), StatusIs(absl::StatusCode::kNotFound));
}

class FailingKeyProvider final : public KeyProvider {
 public:
  explicit FailingKeyProvider(absl::Status status)
      : status_(std::move(status)) {}
  absl::StatusOr<SecretBytes> GetMasterKey() const override {
    if (!status_.ok()) return status_;
    return SecretBytes::Allocate(16);  // Wrong size.
  }

 private:
  absl::Status status_;
};

TEST_F(StoreTest, KeyProviderErrorsReachTheCaller) {
  Options o = options_;
  o.key_provider =
      std::make_shared<FailingKeyProvider>(absl::UnavailableError("kms down"));
  EXPECT_THAT(Store::Open(o), StatusIs(absl::StatusCode::kUnavailable));
  o.key_provider = std::make_shared<FailingKeyProvider>(absl::OkStatus());
  EXPECT_THAT(Store::Open(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(StoreTest, MissingKeyStoreIsDataLoss) {
  { auto store = OpenStore(); }
  std::filesystem::remove_all(options_.data_dir + "/keys");
  EXPECT_THAT(Store::Open(options_), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(StoreTest, KeyOrphanedByAnInterruptedCreationIsRemoved) {
  {
    auto store = OpenStore();
    ASSERT_THAT(store->CreateTenant("one"), IsOk());
  }
  // Simulate a crash after the key was stored but before the registry write: a
  // key for number 2.
  {
    SecretBytes master = provider_->GetMasterKey().value();
    auto keys =
        internal::KeyStore::Open(options_.data_dir + "/keys", std::move(master),
                                 false, test::SomeInstant());
    ASSERT_THAT(keys, IsOk());
    ASSERT_THAT((*keys)->CreateTenantKeys(2, 1), IsOk());
  }
  { auto store = OpenStore(); }  // Opening removes the orphan.
  {
    SecretBytes master = provider_->GetMasterKey().value();
    auto keys =
        internal::KeyStore::Open(options_.data_dir + "/keys", std::move(master),
                                 false, test::SomeInstant());
    ASSERT_THAT(keys, IsOk());
    EXPECT_THAT((*keys)->GetTenantKey(1), IsOk());
    EXPECT_THAT((*keys)->GetTenantKey(2),
                StatusIs(absl::StatusCode::kNotFound));
  }
  auto store = OpenStore();
  auto two = store->CreateTenant("two");
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->number, 2u);
  auto t = store->OpenTenant("two");
  ASSERT_THAT(t, IsOk());
  ASSERT_THAT((*t)->Put("k", "v"), IsOk());
  EXPECT_THAT((*t)->Get("k"), IsOkAndHolds(std::string("v")));
}

}  // namespace
}  // namespace leyser
