// leyser/maintenance.h: what one Store::RunMaintenance call reports.
//
// Thread safety: a plain value type. Copyable.

#ifndef LEYSER_MAINTENANCE_H_
#define LEYSER_MAINTENANCE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "leyser/audit.h"
#include "leyser/backup.h"

namespace leyser {

// Where a data-key rotation (Store::RotateDataKeys) stands: tenants with
// retired data keys still have values sealed under them, or the keys wait to
// be destroyed.
struct KeyRotationProgress {
  std::uint64_t tenants_pending = 0;  // Tenants still holding retired keys.
  std::uint64_t tenants_done = 0;     // Finished by this call or run.
  std::uint64_t values_resealed = 0;  // By this call or run.
  // The node file key (RotateDataKeys replaces it too): files of the data
  // directory still written under a retired file key after this call or run
  // (0 once every live file was rewritten under the current one), files of
  // the backup directory under one (they go as the generations holding them
  // are pruned), and the retired file keys still kept for them (each
  // destroyed, FILE_KEY_RETIRED, once no file carries it).
  std::uint64_t files_pending = 0;
  std::uint64_t backup_files_pending = 0;
  std::uint64_t retired_file_keys = 0;
  // In MaintenanceReport: why the re-sealing stopped, if it did (the rest of
  // the run went on; the next run resumes). ResealRetiredKeys returns it.
  absl::Status error;
};

// What one `Store::RunMaintenance` call did.
struct MaintenanceReport {
  absl::Time now;  // The clock reading the run used.
  // The clock read earlier than a previous run: no lifecycle step ran.
  bool clock_behind = false;
  std::vector<std::string> ended;     // Tenants whose contract end passed.
  std::vector<std::string> purged;    // Tenants purged by this run.
  std::vector<std::string> shredded;  // Shredded (certificate issued).
  // Tenants whose due purge or shred waits for a legal hold.
  std::vector<std::string> held;
  // A due purge or shred that did not run because it cannot account for the
  // store's backups: Options::backup_dir is empty or names another directory
  // than the one holding the store's generations, or (shred) a generation
  // cannot be opened and checked. Nothing is signed meanwhile; every run tries
  // again, and a LIFECYCLE_WAITING entry in the tenant's audit log records the
  // reason (when it changes, and once a day while it lasts).
  struct WaitingStep {
    std::string tenant_id;
    std::string step;    // "purge" or "shred".
    std::string reason;  // What to put right.
  };
  std::vector<WaitingStep> waiting;
  bool backups_enabled = false;  // False when Options::backup_dir is empty.
  // Set when a backup was due but Options::backup_dir cannot be this store's
  // backup directory (another store's, not the one its generations are in,
  // unreadable): why, and what to put right. No backup is written there; a
  // BACKUP_FAILED audit entry records it.
  std::string backup_refused;
  // The generation this run took (and verified), if any.
  std::optional<BackupInfo> backup;
  // Generations removed to keep Options::backup_generations.
  std::vector<BackupId> pruned;
  // Leftovers of interrupted runs that were cleaned up.
  std::vector<std::string> repaired;
  // Damaged or missing files of the backup directory this run found, repaired
  // or not (BACKUP_DAMAGED / BACKUP_REPAIRED in the system log). Options::
  // backup_generations counts whole generations only: damaged ones are kept
  // besides them.
  std::vector<BackupDamage> backup_damage;
  // Audit entries pruned (older than Options::audit_retention), all logs.
  std::uint64_t audit_entries_pruned = 0;
  // Whether the audit checkpoints reached Options::audit_sink at the end of
  // the run: anchors.last_error is the sink's error if it refused them (the
  // run is OK all the same; they stay pending, and an ANCHOR_FAILURE entry
  // records the failing streak).
  AnchorStatus anchors;
  // The re-sealing pass of a data-key rotation this run continued (all zero
  // if none is in progress).
  KeyRotationProgress key_rotation;
};

}  // namespace leyser

#endif  // LEYSER_MAINTENANCE_H_
