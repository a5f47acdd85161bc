// leyser/options.h: how a store is opened.
//
// `Options` is a passive struct: fill it in and pass it to `Store::Open`, which
// checks it and answers InvalidArgument naming the bad field.
//
// Thread safety: a plain value type. Copyable.

#ifndef LEYSER_OPTIONS_H_
#define LEYSER_OPTIONS_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/time/time.h"

#include "leyser/audit.h"
#include "leyser/clock.h"
#include "leyser/key_provider.h"

namespace leyser {

// Largest accepted values of `Options::max_key_bytes` and
// `Options::max_value_bytes`.
inline constexpr std::size_t kKeyBytesLimit = 64 * 1024;
inline constexpr std::size_t kValueBytesLimit = 256 * 1024 * 1024;

struct Options {
  // Behaviour.

  // Directory of the store. Required. leyser keeps the RocksDB database in
  // `data_dir/db`, the key store (wrapped keys only) in `data_dir/keys` and a
  // lock file in `data_dir/LOCK`; one process at a time may open a store.
  // Whatever the umask, every directory leyser creates here and in
  // `backup_dir` is mode 0700 and every file 0600; Open removes the group and
  // other bits of what an older version left there (in `backup_dir` once it
  // is the store's own).
  std::string data_dir;

  // Supplies the master key. Required. Shared; the store keeps it alive.
  std::shared_ptr<KeyProvider> key_provider;

  // Source of every timestamp the store records. Default: the system clock.
  // Shared.
  std::shared_ptr<const Clock> clock = SystemClock();

  // Create an empty store (directory, key store, database) if `data_dir` holds
  // none, or complete one whose creation was interrupted. Never creates a part
  // next to an existing one: a store with a part missing is DataLoss either
  // way. Default false: opening a missing store fails with NotFound.
  bool create_if_missing = false;

  // Sync every write to stable storage before acknowledging it (fdatasync of
  // the write-ahead log). Default true. With false, an acknowledged write
  // survives a crash of the process but may be lost if the machine loses power.
  bool sync_writes = true;

  // Longest accepted user key, in bytes (1 ..= kKeyBytesLimit). Default 4 KiB.
  // Writes of longer keys are refused with InvalidArgument; Get and Delete take
  // any key up to kKeyBytesLimit, so keys written before the limit was lowered
  // stay readable and erasable.
  std::size_t max_key_bytes = 4 * 1024;

  // Longest accepted value, in bytes (1 ..= kValueBytesLimit). Default 16 MiB.
  // Longer values are refused with InvalidArgument. Each stored value costs 45
  // bytes more than its length.
  std::size_t max_value_bytes = 16 * 1024 * 1024;

  // Lifecycle (Store::EndContract). Both delays may be zero (immediate);
  // negative, or more than 100 years, is refused.

  // Time from a tenant's contract end to the purge of its live data and live
  // data key. Default 30 days.
  absl::Duration purge_after = absl::Hours(24 * 30);

  // Time from the purge to the shred: the tenant's data key leaves every backup
  // generation and every generation taken before the purge is deleted; its
  // deletion certificate is issued. Default 7 days.
  absl::Duration backup_purge_after = absl::Hours(24 * 7);

  // Backups.

  // Directory of the backup generations. Empty (the default): backups are off,
  // and `RunMaintenance` takes none. Must not lie inside `data_dir`; put it on
  // another disk.
  std::string backup_dir;

  // Generations kept (1 ..= 1000). Default 7: with one generation a day, a week
  // of history.
  std::size_t backup_generations = 7;

  // UTC time of day at which the daily backup falls due (0 ..< 24 h). Default
  // 00:00 UTC. `RunMaintenance` takes a backup when none was taken since the
  // most recent such instant; after downtime it takes one, not one per missed
  // day.
  absl::Duration backup_time_of_day = absl::ZeroDuration();

  // Audit log (leyser/audit.h).

  // Receives every signed checkpoint of every audit log. Null (the default):
  // checkpoints stay in the store only, which cannot reveal truncation or a
  // rollback, and no audit entry is ever pruned. Shared.
  std::shared_ptr<AuditSink> audit_sink;

  // A checkpoint is signed once a log has this many entries not covered by
  // one (1 ..= 10000), default 1000 ...
  std::size_t audit_checkpoint_entries = 1000;

  // ... or when its oldest uncovered entry is this old (1 s ..= 1 h; checked
  // at every append and RunMaintenance), default 60 s. Close() covers the
  // rest.
  absl::Duration audit_checkpoint_interval = absl::Seconds(60);

  // Audit entries are kept at least this long (default and minimum 184 days,
  // six months); RunMaintenance prunes older ones behind an anchored
  // checkpoint and a signed RETENTION entry. A tenant under legal hold keeps
  // its whole log.
  absl::Duration audit_retention = absl::Hours(24 * 184);

  // The actor recorded for calls of this store's API (tenant handles from
  // OpenTenantAs name their own). Default "host".
  std::string audit_actor = "host";

  // Tampering and rollback (README, "Threat model").

  // Open a store that was rolled back instead of refusing it with DataLoss:
  // its audit logs are behind the checkpoints its audit_sink holds, or the
  // sink holds a later anchor series (an older copy of the store was put
  // back, or its newest writes were cut off), a registry record is older than
  // its log (a write removed), or a log is damaged. The open records a
  // ROLLBACK_ACCEPTED entry in the system log naming what it found, lets
  // stale records catch up with their logs, remembers the damaged logs (they
  // refuse no more), and starts a new anchor series (new checkpoint origins),
  // so later checkpoints never contradict the ones already anchored. Set it
  // only for the open that follows a rollback you know of; a store that was
  // not rolled back opens as usual. Default false.
  bool accept_rollback = false;

  // Open a store made by leyser 0.2 or earlier, whose registry and audit-state
  // records carry no authentication tag: this open tags every such record as
  // it is on disk (and so accepts whatever someone who could write the disk
  // may have changed before), records a RECORDS_AUTHENTICATED entry, and from
  // then on every record must carry its tag. Set it once, for the first open
  // after the upgrade, on a store you trust. Without it such a store is
  // refused with FailedPrecondition, so a key store whose metadata was put
  // back from before the upgrade cannot make leyser accept untagged records
  // again. Default false.
  bool authenticate_legacy_records = false;

  // Secret memory.

  // Open the store even though some secret memory of this process (master key,
  // data keys; leyser/secret.h) could not be locked into RAM and may be
  // swapped to disk, typically because the locked-memory limit
  // (RLIMIT_MEMLOCK, `ulimit -l`; root has no limit with CAP_IPC_LOCK) is too
  // small. Default false: Store::Open refuses with FailedPrecondition. With
  // true, each such open records a SECRET_MEMORY_UNLOCKED entry in the system
  // audit log. Keys need 32 KiB of locked memory per 511 (a cached tenant
  // holds up to two), larger secrets a page or two each: a small store fits
  // 64 KiB, the default tenant_cache_size can need 13 MiB. Open checks the
  // secrets allocated until it returns. A later failure (the tenant cache
  // growing past the limit) does not stop an open store: the next
  // RunMaintenance records the entry, and later opens in the same process are
  // refused unless this is true.
  bool allow_unlocked_secret_memory = false;

  // Performance.

  // Tenants whose shared state (unwrapped data key in locked memory, key
  // prefix) is kept after their last handle closes, most recently opened first,
  // so reopening one costs no key-store read and no unwrap. About 400 bytes
  // each. 0 releases a tenant's key with its last handle. Default 100,000.
  std::size_t tenant_cache_size = 100000;

  // Bytes of the block cache shared by all tenants. Default 64 MiB.
  std::size_t block_cache_bytes = 64 * 1024 * 1024;
};

}  // namespace leyser

#endif  // LEYSER_OPTIONS_H_
