// Byte layout of the keys leyser writes to RocksDB, and tenant id validation.
//
// Data column family: 8-byte big-endian tenant number || user key. The
// fixed-width prefix makes the next number's prefix the exact exclusive upper
// bound of a tenant's keyspace. Registry column family: "t/" + tenant id ->
// TenantRecord; "m/meta" -> RegistryMeta.

#ifndef LEYSER_LIB_STORE_KEY_ENCODING_H_
#define LEYSER_LIB_STORE_KEY_ENCODING_H_

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

inline constexpr std::string_view kRegistryTenantPrefix = "t/";
inline constexpr std::string_view kRegistryMetaKey = "m/meta";

// Appends the 8-byte big-endian encoding of `v` to `out`.
void AppendBigEndian64(std::uint64_t v, std::string* out);

// Decodes 8 big-endian bytes. REQUIRES: bytes.size() >= 8.
std::uint64_t DecodeBigEndian64(std::string_view bytes);

// Returns the 8-byte key prefix of tenant `number`.
std::string TenantPrefix(std::uint64_t number);

// Returns prefix(number) || user_key.
std::string DataKey(std::uint64_t number, std::string_view user_key);

// Returns "t/" + id.
std::string RegistryTenantKey(std::string_view id);

// OK if `id` is 1..128 bytes of [A-Za-z0-9._-]; otherwise InvalidArgument
// saying why.
absl::Status ValidateTenantId(std::string_view id);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_KEY_ENCODING_H_
