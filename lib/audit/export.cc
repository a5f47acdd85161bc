// Exports of audit logs (AuditLogs::Export) and the line format.

#include "lib/audit/export.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/audit/merkle.h"
#include "lib/rocks/snapshot.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser::internal {

std::string ToJsonLine(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string ExportLine(std::uint64_t seq, std::string_view stored,
                       const proto::AuditEntry& entry,
                       std::string_view log_name) {
  std::string out =
      absl::StrCat("{\"seq\":", seq, ",\"stored\":\"",
                   absl::Base64Escape(ToAbsl(stored)), "\",\"entry\":");
  out += RenderAuditEntryJson(entry, log_name);
  out.push_back('}');
  return out;
}

bool ParseExportLine(std::string_view line, std::uint64_t* seq,
                     std::string* stored) {
  constexpr std::string_view kSeq = "{\"seq\":";
  constexpr std::string_view kStored = ",\"stored\":\"";
  if (line.substr(0, kSeq.size()) != kSeq) return false;
  line.remove_prefix(kSeq.size());
  const std::size_t comma = line.find(',');
  if (comma == std::string_view::npos ||
      !absl::SimpleAtoi(ToAbsl(line.substr(0, comma)), seq)) {
    return false;
  }
  line.remove_prefix(comma);
  if (line.substr(0, kStored.size()) != kStored) return false;
  line.remove_prefix(kStored.size());
  const std::size_t quote = line.find('"');
  return quote != std::string_view::npos &&
         absl::Base64Unescape(ToAbsl(line.substr(0, quote)), stored);
}

absl::StatusOr<std::string> AuditLogs::Export(std::uint64_t log,
                                              std::string_view name,
                                              std::uint64_t from,
                                              std::uint64_t to) {
  // Signs what is uncovered, then reads everything at one snapshot taken
  // after: the checkpoint, the pruning boundary, the proof and the entries
  // agree even while maintenance prunes or appends.
  LEYSER_ASSIGN_OR_RETURN(std::string note, LatestCheckpoint(log));
  LEYSER_ASSIGN_OR_RETURN(AuditCheckpoint cp, ParseAuditCheckpoint(note));
  const ScopedSnapshot snapshot(db_);
  proto::AuditLogMeta meta;
  {
    std::string bytes;
    rocksdb::Status s =
        db_->Get(snapshot.read(), cf_, AuditLogKey(log, 'm'), &bytes);
    if (!s.IsNotFound()) {
      LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit log"));
      LEYSER_RETURN_IF_ERROR(OpenMeta(log, bytes, &meta));
    }
  }
  from = std::max(from, meta.first_retained());
  to = std::min(to, cp.size);
  if (from >= to) {
    return absl::InvalidArgumentError(
        absl::StrCat("nothing to export: the log keeps entries ",
                     meta.first_retained(), "..", cp.size, " (exclusive)"));
  }
  LEYSER_ASSIGN_OR_RETURN(
      merkle::RangeProof proof,
      merkle::ProveRange(from, to, cp.size, Reader(log, snapshot.get())));
  proto::AuditExportHeader header;
  header.set_format(kExportFormat);
  header.set_origin(cp.origin);  // Of an earlier series if nothing since.
  header.set_log(std::string(name));
  header.set_from_seq(from);
  header.set_to_seq(to);
  header.set_checkpoint(note);
  for (const merkle::Hash& h : proof.left)
    header.add_proof_left(HashToBytes(h));
  for (const merkle::Hash& h : proof.right) {
    header.add_proof_right(HashToBytes(h));
  }
  std::string out = ToJsonLine(header) + "\n";
  std::uint64_t next = from;
  while (next < to) {
    LEYSER_ASSIGN_OR_RETURN(
        auto chunk, Read(log, next, std::min<std::uint64_t>(to - next, 4096),
                         snapshot.get()));
    if (chunk.empty()) break;
    for (const auto& [entry, stored] : chunk) {
      if (entry.seq() >= to) break;
      out += ExportLine(entry.seq(), stored, entry, name);
      out += "\n";
      next = entry.seq() + 1;
    }
  }
  return out;
}

}  // namespace leyser::internal
