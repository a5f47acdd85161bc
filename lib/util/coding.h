// Fixed-width big-endian integer coding, so that encoded numbers sort as the
// numbers do (tenant prefixes, audit sequence numbers, key-store entries).

#ifndef LEYSER_LIB_UTIL_CODING_H_
#define LEYSER_LIB_UTIL_CODING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace leyser::internal {

// Appends the 8-byte big-endian encoding of `v` to `out`.
inline void AppendBigEndian64(std::uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

// Decodes 8 big-endian bytes. REQUIRES: bytes.size() >= 8.
inline std::uint64_t DecodeBigEndian64(std::string_view bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return v;
}

}  // namespace leyser::internal

#endif  // LEYSER_LIB_UTIL_CODING_H_
