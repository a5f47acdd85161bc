// The tenant registry's in-memory index: EarliestDue follows every record
// change, so a maintenance run with nothing due can skip the walk.

#include "lib/registry/registry.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "lib/util/time.h"
#include "tests/test/parts.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;

TEST(RegistryTest, EarliestDueFollowsEveryRecordChange) {
  test::TempDir dir;
  test::Parts parts(dir);
  internal::Registry& registry = *parts.registry;
  EXPECT_EQ(registry.EarliestDue(), absl::InfiniteFuture());
  std::vector<proto::TenantRecord> records = parts.AddTenants({"a", "b"});
  EXPECT_EQ(registry.EarliestDue(), absl::InfiniteFuture());

  const absl::Time t0 = parts.clock->Now();
  auto write = [&](proto::TenantRecord& record) {
    absl::MutexLock lock(&registry.lifecycle_mu());
    ASSERT_THAT(registry.WriteRecord(record, nullptr), IsOk());
    record = registry.Record(record.id()).value();
  };
  // An active tenant with a contract end is due at that end.
  internal::ToProtoTime(t0 + absl::Hours(5), records[0].mutable_contract_end());
  write(records[0]);
  EXPECT_EQ(registry.EarliestDue(), t0 + absl::Hours(5));
  internal::ToProtoTime(t0 + absl::Hours(2), records[1].mutable_contract_end());
  write(records[1]);
  EXPECT_EQ(registry.EarliestDue(), t0 + absl::Hours(2));
  // Ended: due at its purge; purged: at its shred; shredded: never.
  records[1].set_state(proto::TENANT_STATE_ENDED);
  internal::ToProtoTime(t0 + absl::Hours(30), records[1].mutable_purge_due());
  write(records[1]);
  EXPECT_EQ(registry.EarliestDue(), t0 + absl::Hours(5));
  records[0].set_state(proto::TENANT_STATE_PURGED);
  internal::ToProtoTime(t0 + absl::Hours(1), records[0].mutable_shred_due());
  write(records[0]);
  EXPECT_EQ(registry.EarliestDue(), t0 + absl::Hours(1));
  records[0].set_state(proto::TENANT_STATE_SHREDDED);
  write(records[0]);
  EXPECT_EQ(registry.EarliestDue(), t0 + absl::Hours(30));
  // A reload gives the same answer.
  ASSERT_THAT(registry.Load(/*created=*/false, t0), IsOk());
  EXPECT_EQ(registry.EarliestDue(), t0 + absl::Hours(30));
}

}  // namespace
}  // namespace leyser
