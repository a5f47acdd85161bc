// leyser/store_types.h: value types describing tenants (used by store.h and backup.h).
//
// Thread safety: plain value types. Copyable.

#ifndef LEYSER_STORE_TYPES_H_
#define LEYSER_STORE_TYPES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace leyser {

// Where a tenant is in its life. Values are persisted; never renumbered.
enum class TenantState {
  kActive = 1,    // Readable and writable.
  kEnded = 2,     // Contract ended: data kept, not served.
  kPurged = 3,    // Data and live data key destroyed; older backups may still hold it.
  kShredded = 4,  // Gone from every backup too.
};

// Returns "ACTIVE", "ENDED", "PURGED" or "SHREDDED".
std::string_view TenantStateName(TenantState state);

// What the store knows about a tenant. Copyable.
struct TenantInfo {
  std::string id;
  std::uint64_t number = 0;  // Internal number: the tenant's key prefix. Never reused.
  TenantState state = TenantState::kActive;
  absl::Time created;  // UTC, from the store's clock.
};

}  // namespace leyser

#endif  // LEYSER_STORE_TYPES_H_
