// leyser/secret.h: a byte buffer for secrets, kept out of ordinary memory.
//
// `SecretBytes` owns a buffer in locked memory (excluded from core dumps, never
// swapped while the locked-memory limit allows; see Allocate) that is zeroed
// when released. leyser hands master keys and tenant data keys around only in
// this type; a `KeyProvider` fills one without copying the key through ordinary
// memory. Buffers larger than 64 bytes get pages of their own with guard pages
// around them (libsodium's sodium_malloc); small ones (keys) share locked,
// guard-bounded pages from a pool, since mapping pages per key costs about
// 10 µs and 12 KiB.
//
// Thread safety: thread-compatible (const access from several threads is fine).
// Ownership: move-only; the moved-from object is empty.

#ifndef LEYSER_SECRET_H_
#define LEYSER_SECRET_H_

#include <cstddef>

#include "absl/status/statusor.h"

namespace leyser {

class SecretBytes {
 public:
  // Returns a zero-filled secret buffer of `size` bytes (1 or more), locked
  // into RAM. If the pages cannot be locked (the locked-memory limit,
  // RLIMIT_MEMLOCK or `ulimit -l`, is reached) the buffer is still returned and
  // usable, but may be swapped to disk, and the whole process is marked for
  // good: from then on Store::Open refuses with FailedPrecondition unless
  // Options::allow_unlocked_secret_memory is set, and the system audit log
  // records each open so allowed (and an open store's next RunMaintenance).
  // Errors: InvalidArgument for size 0; ResourceExhausted if secure memory
  // cannot be allocated at all.
  static absl::StatusOr<SecretBytes> Allocate(std::size_t size);

  // An empty buffer (size 0, data() == nullptr).
  SecretBytes() = default;
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  // Zeroes and frees the buffer.
  ~SecretBytes();

  unsigned char* data() { return data_; }
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Compares the contents in constant time (for equal sizes).
  bool Equals(const SecretBytes& other) const;

 private:
  void Reset();

  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  bool pooled_ = false;  // From the shared pool of small secure slots.
};

}  // namespace leyser

#endif  // LEYSER_SECRET_H_
