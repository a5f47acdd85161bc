// leyser/backup.h: what the backup calls of `Store` report.
//
// A backup generation is a consistent copy of the whole store: the database
// (RocksDB BackupEngine, incremental, with checksummed shared files, encrypted
// by the file layer on both sides), a copy of the key store, and a manifest
// (time, tenants with their states and key counts), the latter two sealed with
// the master key. A generation is listed only once all of it is complete.
//
// Thread safety: plain value types. Copyable.

#ifndef LEYSER_BACKUP_H_
#define LEYSER_BACKUP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "leyser/store_types.h"

namespace leyser {

// Identifies a backup generation within its backup directory. Ids increase
// and are never reused, also after the newest generation is deleted.
using BackupId = std::uint32_t;

// A tenant as recorded in a generation's manifest.
struct BackupTenant {
  std::string id;
  std::uint64_t number = 0;
  TenantState state = TenantState::kActive;
  std::uint64_t keys = 0;  // The tenant's keys in this generation.
};

struct BackupInfo {
  BackupId id = 0;
  absl::Time created;  // UTC, from the store's clock.
  // Generation of the master key that sealed this generation (1, then +1 per
  // rotation). Restoring needs that key.
  std::uint32_t master_key_generation = 0;
  // The manifest. Empty (and `manifest_readable` false) when the generation was
  // sealed under an earlier master key than the store's current one.
  bool manifest_readable = false;
  std::vector<BackupTenant> tenants;
  std::uint64_t keys = 0;
  // Size of the database backup, shared files counted in full.
  std::uint64_t data_bytes = 0;
  std::uint32_t data_files = 0;
  // Empty unless the generation is known to be damaged: what is wrong,
  // naming the file (ListBackups tells what shows without reading the data: a
  // file missing or of the wrong size, an unreadable part; VerifyBackup reads
  // every byte). A damaged generation stays listed until the daily backup
  // makes it whole again (a file the live database still has is copied
  // again) or Store::RemoveDamagedBackup removes it.
  std::string damage;
};

// A damaged or missing file of the backup directory found by
// Store::RunMaintenance or Store::CreateBackup (MaintenanceReport::
// backup_damage), and the generations it concerns.
struct BackupDamage {
  std::vector<BackupId> generations;
  std::string problem;  // What is wrong, naming the file.
  // The file was copied again from the live database (or came back): the
  // generations are whole again. False: they stay damaged (kept, listed with
  // BackupInfo::damage, never pruned in place of whole ones) until the file is
  // put back or Store::RemoveDamagedBackup removes them.
  bool repaired = false;
};

}  // namespace leyser

#endif  // LEYSER_BACKUP_H_
