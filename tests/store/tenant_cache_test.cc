// The tenant cache on real parts: shared cores, the recently opened list and
// its eviction, serving changes, and forgetting a purged tenant.

#include "lib/store/tenant_cache.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

#include "lib/util/time.h"
#include "tests/test/parts.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::StatusIs;

class TenantCacheTest : public testing::Test {
 protected:
  TenantCacheTest() : parts_(tmp_) { parts_.AddTenants({"a", "b", "c"}); }

  std::unique_ptr<TenantCache> Cache(std::size_t capacity) {
    TenantCache::Config config;
    config.capacity = capacity;
    config.actor = "test";
    config.clock = parts_.clock;
    return std::make_unique<TenantCache>(config, parts_.db, parts_.audit,
                                         parts_.registry.get(),
                                         parts_.keys.get());
  }

  std::weak_ptr<const TenantCore> OpenAndDrop(TenantCache& cache,
                                              const std::string& id) {
    auto core = cache.Open(id);
    EXPECT_THAT(core, IsOk());
    return core.ok() ? std::weak_ptr<const TenantCore>(*core)
                     : std::weak_ptr<const TenantCore>();
  }

  test::TempDir tmp_;
  test::Parts parts_;
};

TEST_F(TenantCacheTest, OneCorePerTenantWhileHeld) {
  auto cache = Cache(0);
  auto first = cache->Open("a");
  ASSERT_THAT(first, IsOk());
  auto second = cache->Open("a");
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ((*first)->id, "a");
  EXPECT_EQ((*first)->keys->key.size(), 32u);
  auto other = cache->Open("b");
  ASSERT_THAT(other, IsOk());
  EXPECT_NE((*other)->number, (*first)->number);
  EXPECT_NE((*other)->prefix, (*first)->prefix);
  // Without a cache, the core (and its unwrapped key) dies with its last
  // holder.
  std::weak_ptr<const TenantCore> weak = *first;
  first->reset();
  second->reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_THAT(cache->Open("nobody"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(cache->Open("bad id"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TenantCacheTest, KeepsTheMostRecentlyOpenedUpToItsCapacity) {
  auto cache = Cache(2);
  std::weak_ptr<const TenantCore> a = OpenAndDrop(*cache, "a");
  std::weak_ptr<const TenantCore> b = OpenAndDrop(*cache, "b");
  EXPECT_FALSE(a.expired());
  EXPECT_FALSE(b.expired());
  // Reopening a makes it the most recent; c then evicts b, not a.
  EXPECT_EQ(OpenAndDrop(*cache, "a").lock(), a.lock());
  std::weak_ptr<const TenantCore> c = OpenAndDrop(*cache, "c");
  EXPECT_FALSE(a.expired());
  EXPECT_TRUE(b.expired());
  EXPECT_FALSE(c.expired());
  // A core still held by a handle survives its eviction and is shared again.
  auto held = cache->Open("b");
  ASSERT_THAT(held, IsOk());
  OpenAndDrop(*cache, "a");
  OpenAndDrop(*cache, "c");  // b is now the least recent: evicted.
  auto again = cache->Open("b");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->get(), held->get());
}

TEST_F(TenantCacheTest, FollowsTheRecordAndForgetsAPurgedTenant) {
  auto cache = Cache(10);
  auto core = cache->Open("a");
  ASSERT_THAT(core, IsOk());
  proto::TenantRecord record = parts_.registry->Record("a").value();
  record.set_access_audit(2);
  cache->Apply(record);
  EXPECT_EQ((*core)->access_audit.load(), 2);
  EXPECT_TRUE((*core)->served.load());
  // A scheduled end is followed without a state change.
  ToProtoTime(parts_.clock->Now() + absl::Hours(1),
              record.mutable_contract_end());
  cache->Apply(record);
  EXPECT_NE((*core)->end_unix_nanos.load(), TenantCore::kNoEnd);
  // Ended: the core stops serving (the registry still says ACTIVE, so the
  // cache would reopen it; the lifecycle writes the registry first).
  record.set_state(proto::TENANT_STATE_ENDED);
  cache->Apply(record);
  EXPECT_FALSE((*core)->served.load());
  {
    absl::MutexLock lock(&parts_.registry->lifecycle_mu());
    ASSERT_THAT(parts_.registry->WriteRecord(record, nullptr), IsOk());
  }
  EXPECT_THAT(cache->Open("a"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Forgotten: the cache lets go; the handle's own reference stays valid.
  std::weak_ptr<const TenantCore> weak = *core;
  cache->Forget(record.number());
  EXPECT_FALSE(weak.expired());
  core->reset();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace leyser::internal
