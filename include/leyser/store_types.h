// leyser/store_types.h: value types describing tenants.
//
// Thread safety: plain value types. Copyable.

#ifndef LEYSER_STORE_TYPES_H_
#define LEYSER_STORE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace leyser {

// Where a tenant is in its life. Values are persisted; never renumbered.
enum class TenantState {
  kActive = 1,  // Readable and writable.
  kEnded = 2,   // Contract ended: data kept, not served.
  // Data and live data key destroyed; older backups may still hold them.
  kPurged = 3,
  kShredded = 4,  // Gone from every backup too.
};

// Per-tenant access auditing (Store::SetAccessAudit). Off by default.
enum class AccessAudit {
  kOff = 0,
  kWrites = 1,          // Every Put, Delete and Write: one entry each.
  kReadsAndWrites = 2,  // Also every Get and every iterator created.
};

// Returns "ACTIVE", "ENDED", "PURGED" or "SHREDDED".
std::string_view TenantStateName(TenantState state);

// What the store knows about a tenant. Copyable. All times are UTC, from the
// store's clock; a time that does not apply (yet) is std::nullopt.
struct TenantInfo {
  std::string id;
  // The store's internal number for the tenant (its keys are stored under
  // it). Never reused; for diagnostics.
  std::uint64_t number = 0;
  TenantState state = TenantState::kActive;
  absl::Time created;
  // Set by EndContract; may lie in the future.
  std::optional<absl::Time> contract_end;
  // When the purge is due: max(contract_end, when it was recorded) +
  // Options::purge_after.
  std::optional<absl::Time> purge_due;
  bool legal_hold = false;  // While set, neither purge nor shred runs.
  AccessAudit access_audit = AccessAudit::kOff;  // Store::SetAccessAudit.
  std::optional<absl::Time> purged;
  std::optional<absl::Time> shred_due;  // purged + Options::backup_purge_after.
  std::optional<absl::Time> shredded;
};

}  // namespace leyser

#endif  // LEYSER_STORE_TYPES_H_
