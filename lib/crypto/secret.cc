#include "leyser/secret.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include <sodium.h>

#include "lib/crypto/sodium.h"

namespace leyser {
namespace {

std::atomic<bool> some_secret_unlocked{false};

// sodium_malloc locks its pages but ignores a failure (RLIMIT_MEMLOCK reached):
// lock them again to learn whether they are locked, and remember if not. The
// memory stays usable either way. Locking locked pages again costs nothing
// against the limit.
void LockOrNote(void* p, std::size_t size) {
  if (sodium_mlock(p, size) != 0) {
    some_secret_unlocked.store(true, std::memory_order_relaxed);
  }
}

// A pool of 64-byte slots carved from sodium_malloc'd slabs (locked, excluded
// from core dumps, guard pages around each slab). Slots are zeroed when
// returned. Slabs are never released.
class SecretPool {
 public:
  static constexpr std::size_t kSlotBytes = 64;
  // 511 slots: with libsodium's 16-byte canary a slab's locked region is
  // exactly 32 KiB (512 would lock 36 KiB). A small store (its keys, a few
  // buffers of a page each and about 250 open tenants) then fits the 64 KiB
  // RLIMIT_MEMLOCK common in containers.
  static constexpr std::size_t kSlotsPerSlab = 511;

  static SecretPool& Get() {
    static SecretPool* pool = new SecretPool();
    return *pool;
  }

  unsigned char* Take() {
    absl::MutexLock lock(&mu_);
    if (free_.empty()) {
      void* slab = sodium_malloc(kSlotBytes * kSlotsPerSlab);
      if (slab == nullptr) {
        return nullptr;
      }
      LockOrNote(slab, kSlotBytes * kSlotsPerSlab);
      auto* bytes = static_cast<unsigned char*>(slab);
      sodium_memzero(bytes, kSlotBytes * kSlotsPerSlab);
      for (std::size_t i = kSlotsPerSlab; i > 0; --i)
        free_.push_back(bytes + (i - 1) * kSlotBytes);
    }
    unsigned char* slot = free_.back();
    free_.pop_back();
    return slot;
  }

  void Give(unsigned char* slot) {
    sodium_memzero(slot, kSlotBytes);
    absl::MutexLock lock(&mu_);
    free_.push_back(slot);
  }

 private:
  absl::Mutex mu_;
  std::vector<unsigned char*> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

namespace internal {

bool SomeSecretMemoryUnlocked() {
  return some_secret_unlocked.load(std::memory_order_relaxed);
}

}  // namespace internal

absl::StatusOr<SecretBytes> SecretBytes::Allocate(std::size_t size) {
  if (size == 0) {
    return absl::InvalidArgumentError(
        "SecretBytes::Allocate: size must be at least 1");
  }
  if (absl::Status s = internal::EnsureSodium(); !s.ok()) {
    return s;
  }
  if (size <= SecretPool::kSlotBytes) {
    unsigned char* slot = SecretPool::Get().Take();
    if (slot == nullptr) {
      return absl::ResourceExhaustedError(
          "cannot allocate secure memory for a key (raise the locked-memory "
          "limit, ulimit -l)");
    }
    SecretBytes out;
    out.data_ = slot;
    out.size_ = size;
    out.pooled_ = true;
    return out;
  }
  void* p = sodium_malloc(size);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate secure memory for a key (raise the locked-memory "
        "limit, ulimit -l)");
  }
  LockOrNote(p, size);
  sodium_memzero(p, size);
  SecretBytes out;
  out.data_ = static_cast<unsigned char*>(p);
  out.size_ = size;
  return out;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), pooled_(other.pooled_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.pooled_ = false;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = other.data_;
    size_ = other.size_;
    pooled_ = other.pooled_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.pooled_ = false;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Reset(); }

void SecretBytes::Reset() {
  if (data_ != nullptr) {
    if (pooled_) {
      SecretPool::Get().Give(data_);  // Zeroed on return.
    } else {
      sodium_free(data_);  // Zeroes the memory before releasing it.
    }
  }
  data_ = nullptr;
  size_ = 0;
  pooled_ = false;
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  if (size_ != other.size_) {
    return false;
  }
  return size_ == 0 || sodium_memcmp(data_, other.data_, size_) == 0;
}

}  // namespace leyser
