// The parts of an open store built by hand on real RocksDB and libsodium (a
// data database without the file layer, a key store, the registry and the
// audit logs), for unit tests of the parts above them: the tenant cache, the
// lifecycle state machine, backups.

#ifndef LEYSER_TESTS_TEST_PARTS_H_
#define LEYSER_TESTS_TEST_PARTS_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "leyser/clock.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/crypto/sodium.h"
#include "lib/db/db_core.h"
#include "lib/db/filename.h"
#include "lib/keys/key_store.h"
#include "lib/registry/registry.h"
#include "lib/util/files.h"
#include "tests/test/test_util.h"

namespace leyser::test {

struct Parts {
  explicit Parts(const TempDir& dir)
      : clock(std::make_shared<ManualClock>(SomeInstant())) {
    keys = internal::KeyStore::Open(internal::KeyStoreDir(dir.path()),
                                    internal::RandomKey().value(), true,
                                    clock->Now(), /*plain_files=*/true)
               .value();
    internal::DataDbSettings settings;
    settings.create = true;
    settings.block_cache_bytes = 1 << 20;
    settings.sync_writes = false;
    settings.max_key_bytes = 1024;
    settings.max_value_bytes = 1 << 20;
    settings.clock = clock;
    db = internal::OpenDataDb(
             internal::DataDbDir(dir.path()), settings,
             internal::FileLock::Acquire(internal::LockFileName(dir.path()))
                 .value(),
             internal::FileKey{})
             .value();
    db->record_mac =
        std::make_shared<internal::RecordMac>(keys->GetRecordKey().value().key);
    registry = std::make_unique<internal::Registry>(db);
    EXPECT_THAT(registry->Load(true, clock->Now()), IsOk());
    internal::AuditConfig config;
    config.installation_id = "00";
    config.clock = clock;
    config.record_mac = db->record_mac;
    audit = std::make_shared<internal::AuditLogs>(
        config, db->db, db->audit_cf,
        internal::CheckpointSigner::Create(internal::RandomKey().value())
            .value(),
        db);
    registry->set_audit(audit);
  }

  // Registers tenants `ids` with data keys; returns their records.
  std::vector<proto::TenantRecord> AddTenants(
      const std::vector<std::string>& ids) {
    absl::MutexLock lock(&registry->lifecycle_mu());
    const std::uint64_t first = registry->NextNumbers(ids).value();
    EXPECT_THAT(keys->CreateTenantKeys(first, ids.size()), IsOk());
    return registry->AddTenants(ids, first, clock->Now(), "test").value();
  }

  std::shared_ptr<ManualClock> clock;
  std::unique_ptr<internal::KeyStore> keys;
  std::shared_ptr<internal::DbCore> db;
  std::unique_ptr<internal::Registry> registry;
  std::shared_ptr<internal::AuditLogs> audit;
};

}  // namespace leyser::test

#endif  // LEYSER_TESTS_TEST_PARTS_H_
