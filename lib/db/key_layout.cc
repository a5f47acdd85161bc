#include "lib/db/key_layout.h"

#include "absl/strings/str_cat.h"

#include "lib/util/coding.h"

namespace leyser::internal {

std::string TenantPrefix(std::uint64_t number) {
  std::string out;
  out.reserve(kTenantPrefixBytes);
  AppendBigEndian64(number, &out);
  return out;
}

std::string DataKey(std::uint64_t number, std::string_view user_key) {
  std::string out;
  out.reserve(kTenantPrefixBytes + user_key.size());
  AppendBigEndian64(number, &out);
  out.append(user_key);
  return out;
}

absl::Status ValidateTenantId(std::string_view id) {
  if (id.empty()) {
    return absl::InvalidArgumentError(
        "tenant id is empty; use 1 to 128 characters of [A-Za-z0-9._-]");
  }
  if (id.size() > kMaxTenantIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tenant id is ", id.size(), " bytes long; the limit is 128"));
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tenant id has a character outside [A-Za-z0-9._-] at position ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace leyser::internal
