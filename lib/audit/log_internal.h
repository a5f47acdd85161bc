// Pieces shared by the audit log's implementation files (audit_log.cc: state
// and appends; checkpoints.cc: signing, publishing, signer rotation;
// retention.cc; record.cc: the record codec). Internal to lib/audit.

#ifndef LEYSER_LIB_AUDIT_LOG_INTERNAL_H_
#define LEYSER_LIB_AUDIT_LOG_INTERNAL_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/util/coding.h"
#include "lib/util/strings.h"

namespace leyser::internal {

// Concurrent threads may read the clock slightly out of order; a step back
// smaller than this is not reported.
// A write stalled for seconds (fsync, write stall) reads its clock early; a
// step back smaller than this is not reported.
inline constexpr absl::Duration kClockSkewTolerance = absl::Seconds(10);

inline std::string CheckpointKey(std::uint64_t log, std::uint64_t size) {
  std::string key = AuditLogKey(log, 'c');
  AppendBigEndian64(size, &key);
  return key;
}

inline std::string MetaKey(std::uint64_t log) { return AuditLogKey(log, 'm'); }

// The table name the record key binds the logs' state records to.
inline constexpr std::string_view kAuditTable = "audit";

// Logs that may hold entries not yet covered by a checkpoint, or checkpoints
// not yet anchored, are listed under this prefix (outside every log's range),
// so an open after a crash finds them without scanning every log.
inline constexpr std::string_view kDirtyPrefix =
    "\x81"
    "d";

// Present (a sealed empty record) once a sink has accepted a checkpoint of
// this store: from then on a checkpoint stays pending until a sink takes it,
// also through runs without one (their logs stay listed under kDirtyPrefix).
inline constexpr std::string_view kAnchoredBeforeKey =
    "\x81"
    "a";

inline std::string DirtyKey(std::uint64_t log) {
  std::string key(kDirtyPrefix);
  AppendBigEndian64(log, &key);
  return key;
}

// Comma-separated hex, as RETENTION entries list hashes.
inline std::string HexList(const std::vector<merkle::Hash>& hashes) {
  std::vector<std::string> hex;
  hex.reserve(hashes.size());
  for (const merkle::Hash& h : hashes) {
    hex.push_back(absl::BytesToHexString(HashToBytes(h)));
  }
  return absl::StrJoin(hex, ",");
}

inline absl::Time FromMicros(std::int64_t micros) {
  return absl::FromUnixMicros(micros);
}

inline absl::Status Damaged(std::uint64_t log, std::string_view what) {
  return absl::DataLossError(absl::StrCat(
      "the audit log ", log == kSystemLogNumber ? "of the store" : "of tenant ",
      log == kSystemLogNumber ? "" : absl::StrCat("number ", log),
      " is damaged (", ToAbsl(what),
      "); run VerifyAuditLog to find the first bad entry"));
}

// Set while the publisher records an ANCHOR_FAILURE entry: that append must
// not schedule another publication from inside the publisher.
inline thread_local bool in_publish = false;

struct AuditLogs::LogState {
  // A std::mutex: absl::Mutex's deadlock detection (on in Debian's build)
  // costs about a microsecond per lock on this path.
  std::mutex mu;
  bool loaded = false;
  std::uint64_t size = 0;
  merkle::CompactRange frontier;
  proto::AuditLogMeta meta;
  // Clock reading when the oldest entry not covered by a checkpoint was added
  // (or the log was loaded with such entries); INT64_MAX if none.
  std::int64_t first_uncovered_micros = INT64_MAX;
  // The record revision of the newest entry (AuditEntry.record_revision).
  std::uint64_t last_revision = 0;
};

struct AuditLogs::Staged {
  std::uint64_t size = 0;
  merkle::CompactRange frontier;
  proto::AuditLogMeta meta;
  std::int64_t first_uncovered_micros = INT64_MAX;
  bool checkpointed = false;
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_AUDIT_LOG_INTERNAL_H_
