// Tenant isolation: prefix-related tenant ids, and a random model test against
// std::map.

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "leyser/store.h"

#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;

// 50 ids, many of them prefixes of one another or differing only in case or
// punctuation.
std::vector<std::string> FiftyIds() {
  std::vector<std::string> ids = {"a",
                                  "ab",
                                  "abc",
                                  "abcd",
                                  "A",
                                  "AB",
                                  "a.",
                                  "a.b",
                                  "a-",
                                  "a_",
                                  "a0",
                                  "a00",
                                  "0",
                                  "00",
                                  "000",
                                  "b",
                                  "ba",
                                  "bb",
                                  "z",
                                  "zz",
                                  "-",
                                  "--",
                                  ".",
                                  "_",
                                  std::string(128, 'x'),
                                  std::string(127, 'x')};
  for (int i = 0; ids.size() < 50; ++i) ids.push_back(absl::StrCat("t", i));
  return ids;
}

TEST(IsolationTest, FiftyPrefixRelatedTenantsSeeOnlyTheirOwnKeys) {
  test::TempDir tmp;
  Options options = test::TestOptions(tmp, test::NewTestKeyProvider(tmp));
  auto store = Store::Open(options);
  ASSERT_THAT(store, IsOk());
  const std::vector<std::string> ids = FiftyIds();
  std::vector<std::unique_ptr<Tenant>> tenants;
  for (const std::string& id : ids) {
    ASSERT_THAT((*store)->CreateTenant(id), IsOk()) << id;
    auto t = (*store)->OpenTenant(id);
    ASSERT_THAT(t, IsOk());
    tenants.push_back(std::move(t).value());
  }
  // Every tenant writes the same user keys, with values naming the owner; keys
  // that look like other tenants' ids and their raw prefixes too.
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (const std::string& k :
         {std::string("shared"), ids[(i + 1) % ids.size()],
          std::string("\0\0\0\0\0\0\0\x01", 8), std::string("\xff", 1)}) {
      ASSERT_THAT(tenants[i]->Put(k, absl::StrCat("owner=", ids[i])), IsOk());
    }
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(ids[i]);
    EXPECT_THAT(tenants[i]->Get("shared"),
                IsOkAndHolds(absl::StrCat("owner=", ids[i])));
    auto it = tenants[i]->NewIterator();
    int count = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++count;
      EXPECT_EQ(it->value(), absl::StrCat("owner=", ids[i]));
    }
    EXPECT_THAT(it->status(), IsOk());
    EXPECT_EQ(count, 4);
    // Another tenant's id as a key is only this tenant's own key (or absent).
    auto other = tenants[i]->Get(ids[(i + 2) % ids.size()]);
    EXPECT_THAT(other, StatusIs(absl::StatusCode::kNotFound));
  }
}

// Test 2: at least 20,000 random operations against an in-memory model.
TEST(IsolationTest, RandomOperationsMatchAModel) {
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  test::TempDir tmp;
  Options options = test::TestOptions(tmp, test::NewTestKeyProvider(tmp));
  options.tenant_cache_size =
      3;  // Fewer than the tenants: evictions all along.
  auto store = Store::Open(options);
  ASSERT_THAT(store, IsOk());

  const std::vector<std::string> ids = {"a",   "ab", "abc", "b",
                                        "a.b", "A",  "a-",  "a0"};
  std::map<std::string, std::map<std::string, std::string>> model;
  std::map<std::string, std::unique_ptr<Tenant>> handles;
  auto reopen_handles = [&] {
    handles.clear();
    for (const std::string& id : ids) {
      auto t = (*store)->OpenTenant(id);
      ASSERT_THAT(t, IsOk());
      handles[id] = std::move(t).value();
    }
  };
  for (const std::string& id : ids)
    ASSERT_THAT((*store)->CreateTenant(id), IsOk());
  reopen_handles();

  auto random_key = [&] {
    // Small key space so overwrites and deletes hit; keys include other ids and
    // binary bytes.
    switch (rng() % 4) {
      case 0:
        return ids[rng() % ids.size()];
      case 1:
        return std::string(1 + rng() % 3, static_cast<char>(rng() % 256));
      default:
        return absl::StrCat("k", rng() % 200);
    }
  };

  int divergences = 0, foreign = 0, ops = 0;
  constexpr int kOps = 24000;
  for (; ops < kOps; ++ops) {
    const std::string& id = ids[rng() % ids.size()];
    Tenant& t = *handles[id];
    auto& m = model[id];
    const int op = static_cast<int>(rng() % 100);
    if (op < 40) {
      std::string k = random_key();
      std::string v = absl::StrCat(id, ":", rng());
      ASSERT_THAT(t.Put(k, v), IsOk());
      m[k] = v;
    } else if (op < 55) {
      std::string k = random_key();
      ASSERT_THAT(t.Delete(k), IsOk());
      m.erase(k);
    } else if (op < 85) {
      std::string k = random_key();
      auto got = t.Get(k);
      auto want = m.find(k);
      if (want == m.end() ? !absl::IsNotFound(got.status())
                          : (!got.ok() || *got != want->second)) {
        ++divergences;
      }
    } else if (op < 93) {
      WriteBatch batch;
      std::map<std::string, std::string> staged = m;
      const int n = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < n; ++i) {
        std::string k = random_key();
        if (rng() % 3 == 0) {
          batch.Delete(k);
          staged.erase(k);
        } else {
          std::string v = absl::StrCat(id, ":b", rng());
          batch.Put(k, v);
          staged[k] = v;
        }
      }
      ASSERT_THAT(t.Write(batch), IsOk());
      m = std::move(staged);
    } else if (op < 99) {
      // Full scan, or a scan from a random seek key.
      auto it = t.NewIterator();
      std::string from;
      if (rng() % 2 == 0) {
        it->SeekToFirst();
      } else {
        from = random_key();
        it->Seek(from);
      }
      auto want = m.lower_bound(from);
      for (; it->Valid(); it->Next(), ++want) {
        const std::string value(it->value());
        if (value.rfind(id + ":", 0) != 0) ++foreign;
        if (want == m.end() || it->key() != want->first ||
            value != want->second) {
          ++divergences;
          break;
        }
      }
      if (!it->status().ok() || (want != m.end() && !it->Valid()))
        ++divergences;
    } else {
      // Reopen the whole store now and then.
      handles.clear();
      store->reset();
      store = Store::Open(options);
      ASSERT_THAT(store, IsOk());
      reopen_handles();
    }
  }
  EXPECT_EQ(ops, kOps);
  EXPECT_EQ(divergences, 0) << "seed " << seed;
  EXPECT_EQ(foreign, 0) << "seed " << seed;
}

}  // namespace
}  // namespace leyser
