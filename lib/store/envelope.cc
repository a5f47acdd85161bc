#include "lib/store/envelope.h"

#include "lib/crypto/sodium.h"

namespace leyser::internal {
namespace {

constexpr char kRecordKindTenantValue = 1;

void AppendHeader(std::uint32_t key_version, std::string* out) {
  out->push_back(static_cast<char>(kEnvelopeVersion));
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((key_version >> shift) & 0xff));
  }
}

// Builds the associated data into a per-thread buffer (no allocation once it
// has grown).
std::string_view AssociatedData(std::string_view header,
                                std::string_view full_key) {
  thread_local std::string ad;
  ad.clear();
  ad.push_back(kRecordKindTenantValue);
  ad.append(header);
  ad.append(full_key);
  return ad;
}

}  // namespace

void SealValue(const SecretBytes& key, std::uint32_t key_version,
               std::string_view full_key, std::string_view value,
               std::string* out) {
  out->clear();
  out->reserve(kEnvelopeOverheadBytes + value.size());
  AppendHeader(key_version, out);
  std::string_view ad = AssociatedData(std::string_view(*out), full_key);
  SealAppend(key, value, ad, out);
}

std::optional<std::uint32_t> EnvelopeKeyVersion(std::string_view sealed) {
  if (sealed.size() < kEnvelopeOverheadBytes ||
      static_cast<std::uint8_t>(sealed[0]) != kEnvelopeVersion) {
    return std::nullopt;
  }
  std::uint32_t version = 0;
  for (std::size_t i = 1; i < kEnvelopeHeaderBytes; ++i) {
    version = (version << 8) | static_cast<unsigned char>(sealed[i]);
  }
  return version;
}

bool OpenValue(const SecretBytes& key, std::uint32_t key_version,
               std::string_view full_key, std::string_view sealed,
               std::string* value) {
  value->clear();
  if (EnvelopeKeyVersion(sealed) != key_version) return false;
  std::string_view ad =
      AssociatedData(sealed.substr(0, kEnvelopeHeaderBytes), full_key);
  return Open(key, sealed.substr(kEnvelopeHeaderBytes), ad, value);
}

}  // namespace leyser::internal
