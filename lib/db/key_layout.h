// Byte layout of the tenant data column family, tenant numbers, and tenant id
// validation.
//
// Data column family: 8-byte big-endian tenant number || user key. The
// fixed-width prefix makes the next number's prefix the exact exclusive upper
// bound of a tenant's keyspace. (The registry's keys are laid out in
// lib/registry/records.h, the audit log's in lib/audit/audit_log.h.)

#ifndef LEYSER_LIB_DB_KEY_LAYOUT_H_
#define LEYSER_LIB_DB_KEY_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace leyser::internal {

inline constexpr std::size_t kTenantPrefixBytes = 8;
inline constexpr std::size_t kMaxTenantIdBytes = 128;
// Tenant numbers start at 1 and stay below 2^63, so "number + 1" always has a
// prefix.
inline constexpr std::uint64_t kFirstTenantNumber = 1;
inline constexpr std::uint64_t kMaxTenantNumber = (std::uint64_t{1} << 63) - 1;

// Returns the 8-byte key prefix of tenant `number`.
std::string TenantPrefix(std::uint64_t number);

// Returns prefix(number) || user_key.
std::string DataKey(std::uint64_t number, std::string_view user_key);

// OK if `id` is 1..128 bytes of [A-Za-z0-9._-]; otherwise InvalidArgument
// saying why.
absl::Status ValidateTenantId(std::string_view id);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_DB_KEY_LAYOUT_H_
