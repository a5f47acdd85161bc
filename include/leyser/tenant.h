// leyser/tenant.h: one tenant's keyspace.
//
// A `Tenant` handle reads and writes the keys of exactly one tenant. User keys
// are arbitrary non-empty byte strings up to `Options::max_key_bytes`; values
// up to `Options::max_value_bytes` (empty values are allowed). Every value is
// sealed with the tenant's own data key and bound to the tenant and the key, so
// bytes copied from elsewhere fail with DataLoss, never yielding other data.
//
// With access auditing on (Store::SetAccessAudit), every write (and read, if
// asked) is recorded in the tenant's audit log in the same atomic write as
// the change, with the handle's actor and the keyed hash of each user key; if
// the entry cannot be written the call fails and nothing changes. Any
// DataLoss a call returns is recorded too.
//
// Thread safety: thread-safe; share one handle between threads freely.
// Ownership: created by `Store::OpenTenant`. A handle keeps the store's files
// open until it is destroyed (so it may outlive the `Store` object, but the
// store cannot be reopened before then).

#ifndef LEYSER_TENANT_H_
#define LEYSER_TENANT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "leyser/iterator.h"
#include "leyser/write_batch.h"

namespace leyser {

class Tenant {
 public:
  virtual ~Tenant() = default;
  Tenant(const Tenant&) = delete;
  Tenant& operator=(const Tenant&) = delete;

  // The tenant's id and internal number.
  virtual const std::string& id() const = 0;
  virtual std::uint64_t number() const = 0;

  // Sets `key` to `value`.
  // Errors: InvalidArgument (empty or oversize key, oversize value);
  // Unavailable (I/O error; the store must be reopened); ResourceExhausted
  // (disk full).
  [[nodiscard]] virtual absl::Status Put(std::string_view key,
                                         std::string_view value) = 0;

  // Returns the value of `key`.
  // Errors: NotFound (no such key); InvalidArgument (bad key); DataLoss (the
  // stored value failed authentication: corrupted, or moved from another key or
  // tenant); Unavailable (I/O).
  virtual absl::StatusOr<std::string> Get(std::string_view key) const = 0;

  // Removes `key`; OK whether or not it existed.
  // Errors: InvalidArgument (bad key); Unavailable; ResourceExhausted.
  [[nodiscard]] virtual absl::Status Delete(std::string_view key) = 0;

  // Applies every operation of `batch` atomically. An invalid operation rejects
  // the whole batch with InvalidArgument (naming its position) and nothing is
  // written.
  [[nodiscard]] virtual absl::Status Write(const WriteBatch& batch) = 0;

  // Returns an iterator over this tenant's keys at the current point in time.
  // Never null. With read auditing (AccessAudit::kReadsAndWrites) its creation
  // is recorded; if that fails, the iterator reports the error.
  virtual std::unique_ptr<Iterator> NewIterator() const = 0;

  // The keyed hash (16 bytes) under which access auditing records `key` in
  // this tenant's audit log, to find the entries about a key.
  virtual std::string AuditKeyHash(std::string_view key) const = 0;

 protected:
  Tenant() = default;
};

}  // namespace leyser

#endif  // LEYSER_TENANT_H_
