#include "lib/crypto/record_mac.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include <sodium.h>

#include "lib/crypto/sodium.h"
#include "lib/util/strings.h"

namespace leyser::internal {
namespace {

constexpr char kHeader[] = {'\x00', '\x01'};
constexpr std::size_t kHeaderBytes = sizeof(kHeader);
constexpr std::size_t kTagBytes = 32;
constexpr std::string_view kDomain = "leyser.record.v1";

void AppendLengthPrefixed(std::string_view s, std::string* out) {
  const auto n = static_cast<std::uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out->append(s);
}

}  // namespace

RecordMac::RecordMac(SecretBytes key) : key_(std::move(key)) {}

void RecordMac::Tag(std::string_view table, std::string_view key,
                    std::string_view payload, unsigned char* out) const {
  std::string input(kDomain);
  input.reserve(kDomain.size() + 8 + table.size() + key.size() +
                payload.size());
  AppendLengthPrefixed(table, &input);
  AppendLengthPrefixed(key, &input);
  input.append(payload);
  KeyedHash(key_, input, out, kTagBytes);
}

std::string RecordMac::Seal(std::string_view table, std::string_view key,
                            std::string_view payload) const {
  std::string out(kHeader, kHeaderBytes);
  out.append(payload);
  out.resize(out.size() + kTagBytes);
  Tag(table, key, payload,
      reinterpret_cast<unsigned char*>(out.data() + out.size() - kTagBytes));
  return out;
}

bool RecordMac::HasHeader(std::string_view stored) {
  return stored.size() >= kHeaderBytes + kTagBytes &&
         stored.substr(0, kHeaderBytes) ==
             std::string_view(kHeader, kHeaderBytes);
}

absl::StatusOr<std::string_view> RecordMac::Open(std::string_view table,
                                                 std::string_view key,
                                                 std::string_view stored,
                                                 std::string_view what) const {
  if (!HasHeader(stored)) {
    return absl::DataLossError(absl::StrCat(
        ToAbsl(what),
        " carries no authentication tag: it was written outside leyser or "
        "damaged (every control record is authenticated under the store's "
        "record key)"));
  }
  const std::string_view payload =
      stored.substr(kHeaderBytes, stored.size() - kHeaderBytes - kTagBytes);
  unsigned char expected[kTagBytes];
  Tag(table, key, payload, expected);
  if (crypto_verify_32(expected,
                       reinterpret_cast<const unsigned char*>(
                           stored.data() + stored.size() - kTagBytes)) != 0) {
    return absl::DataLossError(absl::StrCat(
        ToAbsl(what),
        " failed authentication: it was altered or damaged outside leyser "
        "(by someone or something that can write the store's files), or "
        "moved from another record"));
  }
  return payload;
}

absl::StatusOr<std::optional<std::string>> RecordMac::SealLegacy(
    std::string_view table, std::string_view key, std::string_view stored,
    std::string_view what) const {
  if (!HasHeader(stored)) return Seal(table, key, stored);
  absl::StatusOr<std::string_view> payload = Open(table, key, stored, what);
  if (!payload.ok()) return payload.status();
  return std::nullopt;
}

}  // namespace leyser::internal
