// Authentication of the data database's control records: the tenant registry
// (lib/registry) and the audit logs' per-log state (lib/audit). The file layer
// encrypts without a MAC and RocksDB's checksums are unkeyed, so whoever can
// write the store's files could otherwise flip chosen bits of a record (a
// tenant's state, legal hold, contract end) and fix the checksum. Each such
// record is stored as
//
//   0x00 0x01 || payload || BLAKE2b-256(record key,
//       "leyser.record.v1" || be32 |table| || table || be32 |key| || key ||
//       payload)
//
// under the store's random record key (kept wrapped in the key store), so a
// changed byte, or a record moved to another key or table, fails with DataLoss
// naming the record. The leading 0x00 is never the first byte of a serialized
// protobuf message, so a record written before records were authenticated is
// told apart (the one-time upgrade, AuthenticateLegacyRecords in
// lib/store/open.cc). An older copy of the same record still authenticates:
// freshness comes from each record's revision, checked against its audit log,
// and from the audit anchors (docs/architecture.md, "Tampering and
// rollback").
//
// Thread safety: immutable after construction; thread-safe.

#ifndef LEYSER_LIB_CRYPTO_RECORD_MAC_H_
#define LEYSER_LIB_CRYPTO_RECORD_MAC_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "leyser/secret.h"

namespace leyser::internal {

class RecordMac {
 public:
  // `key` must be 32 bytes.
  explicit RecordMac(SecretBytes key);

  // The stored form of `payload` under record `key` of `table`.
  std::string Seal(std::string_view table, std::string_view key,
                   std::string_view payload) const;

  // The payload of `stored`, a view into it. DataLoss naming `what` if
  // `stored` is not a record this key sealed for (`table`, `key`).
  absl::StatusOr<std::string_view> Open(std::string_view table,
                                        std::string_view key,
                                        std::string_view stored,
                                        std::string_view what) const;

  // For the one-time upgrade of a store from before records were
  // authenticated: nullopt if `stored` is already sealed for (`table`, `key`);
  // the sealed form of `stored` if it has no header (a record from before);
  // DataLoss if it has the header but fails authentication.
  absl::StatusOr<std::optional<std::string>> SealLegacy(
      std::string_view table, std::string_view key, std::string_view stored,
      std::string_view what) const;

  // True if `stored` carries the sealed form's header (it may still fail
  // authentication); false for a record from before authentication.
  static bool HasHeader(std::string_view stored);

 private:
  void Tag(std::string_view table, std::string_view key,
           std::string_view payload, unsigned char* out) const;

  SecretBytes key_;
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_CRYPTO_RECORD_MAC_H_
