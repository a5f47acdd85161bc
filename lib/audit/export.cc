// Exports of audit logs (AuditLogs::Export) and the line format.

#include "lib/audit/export.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
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
                       const std::vector<std::string>& inclusion,
                       const proto::AuditEntry& entry,
                       std::string_view log_name) {
  std::string out = absl::StrCat("{\"seq\":", seq, ",\"stored\":\"",
                                 absl::Base64Escape(ToAbsl(stored)), "\"");
  if (!inclusion.empty()) {
    out += ",\"inclusion\":[";
    for (std::size_t i = 0; i < inclusion.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "\"" : ",\"",
                      absl::Base64Escape(inclusion[i]), "\"");
    }
    out += "]";
  }
  out += ",\"entry\":";
  out += RenderAuditEntryJson(entry, log_name);
  out.push_back('}');
  return out;
}

bool ParseExportLine(std::string_view line, std::uint64_t* seq,
                     std::string* stored, std::vector<std::string>* inclusion) {
  constexpr std::string_view kSeq = "{\"seq\":";
  constexpr std::string_view kStored = ",\"stored\":\"";
  constexpr std::string_view kInclusion = ",\"inclusion\":[";
  inclusion->clear();
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
  if (quote == std::string_view::npos ||
      !absl::Base64Unescape(ToAbsl(line.substr(0, quote)), stored)) {
    return false;
  }
  line.remove_prefix(quote + 1);
  if (line.substr(0, kInclusion.size()) != kInclusion) return true;
  line.remove_prefix(kInclusion.size());
  // "h1","h2",...]
  while (true) {
    if (line.empty() || line[0] != '"') return false;
    const std::size_t end = line.find('"', 1);
    std::string hash;
    if (end == std::string_view::npos ||
        !absl::Base64Unescape(ToAbsl(line.substr(1, end - 1)), &hash) ||
        hash.size() != 32) {
      return false;
    }
    inclusion->push_back(std::move(hash));
    line.remove_prefix(end + 1);
    if (line.substr(0, 1) == "]") return true;
    if (line.substr(0, 1) != ",") return false;
    line.remove_prefix(1);
  }
}

namespace {

// Reads tree nodes through `read`, each once: the inclusion proofs of
// neighbouring entries share most of their hashes.
class CachingReader {
 public:
  explicit CachingReader(merkle::NodeReader read) : read_(std::move(read)) {}
  merkle::NodeReader reader() {
    return
        [this](int level, std::uint64_t index) -> absl::StatusOr<merkle::Hash> {
          const auto key = std::make_pair(level, index);
          if (auto it = cache_.find(key); it != cache_.end()) return it->second;
          LEYSER_ASSIGN_OR_RETURN(merkle::Hash h, read_(level, index));
          cache_.emplace(key, h);
          return h;
        };
  }

 private:
  merkle::NodeReader read_;
  absl::flat_hash_map<std::pair<int, std::uint64_t>, merkle::Hash> cache_;
};

}  // namespace

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
  CachingReader nodes(Reader(log, snapshot.get()));
  {
    // A consistency proof from every smaller checkpoint the store signed of
    // this origin: a verifier holding any of them (a sink's line) checks the
    // export against it, wherever the exported range lies.
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(snapshot.read(), cf_));
    const std::string prefix = AuditLogKey(log, 'c');
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      absl::StatusOr<AuditCheckpoint> earlier =
          ParseAuditCheckpoint(it->value().ToString());
      if (!earlier.ok() || earlier->origin != cp.origin || earlier->size == 0 ||
          earlier->size >= cp.size) {
        continue;
      }
      absl::StatusOr<std::vector<merkle::Hash>> hashes =
          merkle::ConsistencyProof(earlier->size, cp.size, nodes.reader());
      if (!hashes.ok()) continue;  // Its nodes were pruned.
      proto::ConsistencyProof* p = header.add_consistency();
      p->set_size(earlier->size);
      for (const merkle::Hash& h : *hashes) p->add_hashes(HashToBytes(h));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading checkpoints"));
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
      LEYSER_ASSIGN_OR_RETURN(
          std::vector<merkle::Hash> path,
          merkle::InclusionProof(entry.seq(), cp.size, nodes.reader()));
      std::vector<std::string> inclusion;
      inclusion.reserve(path.size());
      for (const merkle::Hash& h : path) inclusion.push_back(HashToBytes(h));
      out += ExportLine(entry.seq(), stored, inclusion, entry, name);
      out += "\n";
      next = entry.seq() + 1;
    }
  }
  return out;
}

}  // namespace leyser::internal
