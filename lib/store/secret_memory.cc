// Secret memory that could not be locked into RAM (leyser/secret.h): refused
// at open unless Options::allow_unlocked_secret_memory, and recorded in the
// system audit log when allowed.

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include <sys/resource.h>

#include "leyser/secret.h"

#include "lib/crypto/sodium.h"
#include "lib/store/store_impl.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// The soft locked-memory limit in bytes, "unlimited" or "unknown".
std::string MemlockLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
  return absl::StrCat(limit.rlim_cur);
}

absl::Status Unlocked() {
  std::string limit = MemlockLimit();
  if (absl::ascii_isdigit(limit[0])) limit += " bytes";
  return absl::FailedPreconditionError(absl::StrCat(
      "secret memory could not be locked into RAM, so keys could be swapped "
      "to disk: the locked-memory limit (RLIMIT_MEMLOCK, `ulimit -l`) is ",
      limit,
      "; raise it (16 MiB covers the default tenant cache; systemd: "
      "LimitMEMLOCK=) or set Options::allow_unlocked_secret_memory to accept "
      "the risk"));
}

}  // namespace

absl::Status CheckSecretMemory(const Options& options) {
  {
    // The first secret of the process maps the pool's first slab: allocate
    // one so the flag below covers it.
    LEYSER_ASSIGN_OR_RETURN(SecretBytes probe, SecretBytes::Allocate(1));
  }
  if (!SomeSecretMemoryUnlocked() || options.allow_unlocked_secret_memory) {
    return absl::OkStatus();
  }
  return Unlocked();
}

absl::Status StoreImpl::NoteUnlockedSecretMemory(bool at_open) {
  if (!SomeSecretMemoryUnlocked() || unlocked_secrets_recorded_.load()) {
    return absl::OkStatus();
  }
  if (at_open && !options_.allow_unlocked_secret_memory) {
    // Open's own secrets (keys read after CheckSecretMemory) went past the
    // limit.
    return Unlocked();
  }
  proto::AuditEntry entry = NewAuditEntry(
      kSystemLogNumber, proto::AUDIT_EVENT_SECRET_MEMORY_UNLOCKED,
      at_open ? options_.audit_actor : "maintenance", options_.data_dir);
  auto& details = *entry.mutable_details();
  details["rlimit_memlock"] = MemlockLimit();
  details["allowed"] = options_.allow_unlocked_secret_memory ? "true" : "false";
  details["noticed"] = at_open ? "open" : "maintenance";
  LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  unlocked_secrets_recorded_ = true;
  return absl::OkStatus();
}

}  // namespace leyser::internal
