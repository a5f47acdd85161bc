#include "leyser/secret.h"

#include <sodium.h>

#include "lib/crypto/sodium.h"

namespace leyser {

absl::StatusOr<SecretBytes> SecretBytes::Allocate(std::size_t size) {
  if (size == 0) {
    return absl::InvalidArgumentError("SecretBytes::Allocate: size must be at least 1");
  }
  if (absl::Status s = internal::EnsureSodium(); !s.ok()) {
    return s;
  }
  void* p = sodium_malloc(size);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate secure memory for a key (raise the locked-memory limit, ulimit -l)");
  }
  sodium_memzero(p, size);
  SecretBytes out;
  out.data_ = static_cast<unsigned char*>(p);
  out.size_ = size;
  return out;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Reset(); }

void SecretBytes::Reset() {
  if (data_ != nullptr) {
    sodium_free(data_);  // Zeroes the memory before releasing it.
  }
  data_ = nullptr;
  size_ = 0;
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  if (size_ != other.size_) {
    return false;
  }
  return size_ == 0 || sodium_memcmp(data_, other.data_, size_) == 0;
}

}  // namespace leyser
