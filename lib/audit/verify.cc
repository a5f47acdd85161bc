// Verification of audit logs, in the store and of exports offline.

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include <fcntl.h>
#include <unistd.h>

#include "leyser/audit.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/audit/export.h"
#include "lib/audit/merkle.h"
#include "lib/crypto/sodium.h"
#include "lib/rocks/snapshot.h"
#include "lib/rocks/status.h"
#include "lib/util/coding.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser {
namespace internal {
namespace {

const std::int64_t kMinRetentionSeconds =
    absl::ToInt64Seconds(kMinAuditRetention);

struct TrustedRoot {
  std::uint64_t size;
  std::string root;
  std::string source;  // "stored" or "trusted".
  absl::Time time;
  std::string note_sha256;  // Hex.
};

TrustedRoot RootOf(const AuditCheckpoint& cp, std::string source) {
  return TrustedRoot{cp.size, cp.root, std::move(source), cp.time,
                     Sha256Hex({cp.note})};
}

std::vector<merkle::Hash> HashesFromHex(std::string_view list, bool* ok) {
  std::vector<merkle::Hash> out;
  *ok = true;
  if (list.empty()) return out;
  for (absl::string_view hex : absl::StrSplit(ToAbsl(list), ',')) {
    std::optional<merkle::Hash> h = HashFromBytes(absl::HexStringToBytes(hex));
    if (!h || hex.size() != 64) {
      *ok = false;
      return {};
    }
    out.push_back(*h);
  }
  return out;
}

// Replays a run of consecutive entries onto a frontier and checks each against
// what it must be: its position, its stored leaf hash (if known), and every
// checkpoint that ends inside the run.
class LogChecker {
 public:
  LogChecker(std::uint64_t log, merkle::CompactRange start,
             std::vector<TrustedRoot> checkpoints, AuditVerification* out)
      : log_(log),
        start_(start.size()),
        frontier_(std::move(start)),
        checkpoints_(std::move(checkpoints)),
        out_(out) {
    std::sort(checkpoints_.begin(), checkpoints_.end(),
              [](const TrustedRoot& a, const TrustedRoot& b) {
                return a.size < b.size;
              });
    last_good_ = start_;
    out_->first_retained = start_;
    CheckCheckpoints();
  }

  bool ok() const { return out_->intact; }

  // The entry found at position `seq` (as stored), with the tree hashes stored
  // with it, if any. Returns false once something is wrong.
  bool Add(std::uint64_t seq, std::string_view stored,
           const AuditNodes* stored_nodes) {
    if (!ok()) return false;
    const std::uint64_t expected = frontier_.size();
    if (seq != expected) {
      return Fail(expected, absl::StrCat("entry ", expected, " is missing"));
    }
    proto::AuditEntry entry;
    if (!entry.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
      return Fail(seq, absl::StrCat("entry ", seq, " does not parse"));
    }
    if (entry.seq() != seq || entry.log() != log_) {
      return Fail(seq, absl::StrCat("position ", seq, " holds entry ",
                                    entry.seq(), " of log ", entry.log()));
    }
    computed_.clear();
    frontier_.Append(merkle::LeafHash(stored),
                     [this](int level, std::uint64_t, const merkle::Hash& h) {
                       computed_.emplace_back(level, h);
                     });
    if (stored_nodes != nullptr && *stored_nodes != computed_) {
      return Fail(seq, absl::StrCat("entry ", seq,
                                    " was changed after it was written (its "
                                    "stored tree hashes differ)"));
    }
    if (entry.event() == proto::AUDIT_EVENT_RETENTION &&
        !CheckRetention(entry)) {
      return false;
    }
    ++out_->entries_checked;
    return CheckCheckpoints();
  }

  // The log holds `size` entries (the position after the last one seen).
  bool Finish() {
    if (!ok()) return false;
    const std::uint64_t size = frontier_.size();
    out_->size = size;
    if (!retention_dates_.empty()) {
      // The store signs a checkpoint with every RETENTION entry it writes.
      return Fail(
          retention_dates_.front().first,
          absl::StrCat("RETENTION entry ", retention_dates_.front().first,
                       " is not covered by a signed checkpoint"));
    }
    if (start_ > 0 && !retention_seen_) {
      return Fail(start_, absl::StrCat("entries before ", start_,
                                       " were removed without a RETENTION "
                                       "entry"));
    }
    if (next_ < checkpoints_.size()) {
      const TrustedRoot& cp = checkpoints_.back();
      return Fail(
          size, absl::StrCat("the log ends before entry ", size, " but a ",
                             cp.source, " checkpoint covers ", cp.size,
                             " entries: entries were cut off, or the store was "
                             "rolled back"));
    }
    return true;
  }

  const merkle::CompactRange& frontier() const { return frontier_; }

  // For exports: the export's own checkpoint covers every exported entry.
  bool CoveredByExportCheckpoint(absl::Time time, std::uint64_t size) {
    return CoveredBy(time, size);
  }

  bool Fail(std::uint64_t seq, std::string problem) {
    if (out_->intact) {
      out_->intact = false;
      out_->first_bad_seq = seq;
      out_->problem = std::move(problem);
    }
    return false;
  }

 private:
  bool CheckCheckpoints() {
    const std::uint64_t size = frontier_.size();
    bool any = false;
    while (next_ < checkpoints_.size() && checkpoints_[next_].size <= size) {
      const TrustedRoot& cp = checkpoints_[next_++];
      if (cp.size < size) continue;  // Inside the pruned part: not checkable.
      if (cp.root != HashToBytes(frontier_.Root())) {
        return Fail(last_good_,
                    absl::StrCat("entries ", last_good_, "..", size - 1,
                                 " do not reproduce the root of the ",
                                 cp.source, " checkpoint of size ", size,
                                 ": they were changed, removed or reordered"));
      }
      if (cp.source == "trusted") {
        // An empty log's root proves nothing.
        if (size > 0) ++out_->trusted_checkpoints_applied;
      } else {
        ++out_->checkpoints_checked;
      }
      any = true;
      if (!CoveredBy(cp.time, size)) return false;
    }
    // Only once every checkpoint of this size agrees.
    if (any) last_good_ = size;
    return true;
  }

  // A RETENTION entry must show that what it removed was old enough: the
  // newest pruned entry travels with it, with its inclusion proof against the
  // kept hashes; its age is measured from the entry's date, which no signed
  // checkpoint covering it may precede. The kept hashes of the current floor
  // must be the ones stored, and the checkpoint it names as anchored must be
  // the trusted one of that size, when the caller has it.
  // A RETENTION entry cannot be dated after the signed checkpoint (at `time`,
  // of `size`) that first covers it: its age claims rest on its date.
  bool CoveredBy(absl::Time time, std::uint64_t size) {
    for (const auto& [seq, date] : retention_dates_) {
      if (date > time) {
        return Fail(seq, absl::StrCat("RETENTION entry ", seq,
                                      " is dated after the checkpoint of "
                                      "size ",
                                      size, " that covers it"));
      }
    }
    retention_dates_.clear();
    return true;
  }

  bool CheckRetention(const proto::AuditEntry& entry) {
    const auto& d = entry.details();
    auto get = [&](const char* k) -> std::string {
      auto it = d.find(k);
      return it == d.end() ? "" : it->second;
    };
    auto malformed = [&](std::string_view why) {
      return Fail(entry.seq(),
                  absl::StrCat("RETENTION entry ", entry.seq(),
                               " is malformed (", ToAbsl(why), ")"));
    };
    std::uint64_t first = 0;
    std::uint64_t anchored = 0;
    std::int64_t seconds = 0;
    std::string last_bytes;
    bool frontier_ok = false;
    bool proof_ok = false;
    const std::vector<merkle::Hash> frontier =
        HashesFromHex(get("frontier"), &frontier_ok);
    const std::vector<merkle::Hash> proof =
        HashesFromHex(get("last_pruned_proof"), &proof_ok);
    if (!absl::SimpleAtoi(get("first_retained"), &first) || first == 0 ||
        !absl::SimpleAtoi(get("anchored_size"), &anchored) ||
        !absl::SimpleAtoi(get("retention_seconds"), &seconds) ||
        !absl::Base64Unescape(get("last_pruned_entry"), &last_bytes) ||
        !frontier_ok || !proof_ok) {
      return malformed("fields");
    }
    absl::StatusOr<merkle::CompactRange> kept =
        merkle::CompactRange::FromHashes(first, frontier);
    proto::AuditEntry last;
    if (!kept.ok() || !last.ParseFromString(last_bytes) ||
        last.seq() != first - 1 || last.log() != log_ ||
        !merkle::VerifyInclusion(first - 1, first, merkle::LeafHash(last_bytes),
                                 proof, kept->Root())) {
      return malformed("its newest pruned entry does not belong to the log");
    }
    if (anchored < first) {
      return Fail(entry.seq(), absl::StrCat("RETENTION entry ", entry.seq(),
                                            " pruned entries no anchored "
                                            "checkpoint covered"));
    }
    if (seconds < kMinRetentionSeconds ||
        entry.time_micros() - last.time_micros() <
            kMinRetentionSeconds * 1000000) {
      return Fail(entry.seq(),
                  absl::StrCat("RETENTION entry ", entry.seq(),
                               " pruned entries younger than 184 days"));
    }
    for (const TrustedRoot& cp : checkpoints_) {
      if (cp.source == "trusted" && cp.size == anchored &&
          cp.note_sha256 != get("anchored_checkpoint_sha256")) {
        return Fail(entry.seq(), absl::StrCat("RETENTION entry ", entry.seq(),
                                              " names an anchored checkpoint "
                                              "the sink does not hold"));
      }
    }
    retention_dates_.emplace_back(entry.seq(),
                                  absl::FromUnixMicros(entry.time_micros()));
    if (first == start_) {
      if (frontier != start_hashes_) {
        return Fail(start_, absl::StrCat("the kept hashes of the pruned "
                                         "entries do not match RETENTION "
                                         "entry ",
                                         entry.seq()));
      }
      retention_seen_ = true;
    }
    return true;
  }

 public:
  std::vector<merkle::Hash> start_hashes_;

 private:
  const std::uint64_t log_;
  const std::uint64_t start_;
  merkle::CompactRange frontier_;
  AuditNodes computed_;
  std::vector<TrustedRoot> checkpoints_;
  std::size_t next_ = 0;
  std::uint64_t last_good_ = 0;
  bool retention_seen_ = false;
  // RETENTION entries not yet covered by a checkpoint, with their dates.
  std::vector<std::pair<std::uint64_t, absl::Time>> retention_dates_;
  AuditVerification* out_;
};

// The trusted checkpoint notes of `origin`, each once, in `out`: those
// signed by one of `keys` as roots, the others counted in `*rejected`
// (damaged or forged lines of a sink's file: not applied, reported).
absl::StatusOr<std::vector<TrustedRoot>> TrustedRoots(
    const std::vector<std::string>& notes, std::string_view origin,
    const std::vector<SigningKeyInfo>& keys, std::uint64_t* rejected) {
  std::vector<TrustedRoot> out;
  absl::flat_hash_set<std::string_view> seen;  // A rotated file repeats lines.
  for (const std::string& note : notes) {
    LEYSER_ASSIGN_OR_RETURN(AuditCheckpoint cp, ParseAuditCheckpoint(note));
    if (cp.origin != origin || !seen.insert(note).second) continue;
    if (!CheckpointSignedByAny(note, keys)) {
      ++*rejected;
      continue;
    }
    out.push_back(RootOf(cp, "trusted"));
  }
  return out;
}

// The signers `options` accepts: its public keys without a window and its
// signing keys with theirs. InvalidArgument for a key that is not 32 bytes.
absl::StatusOr<std::vector<SigningKeyInfo>> AcceptedKeys(
    const AuditVerifyOptions& options) {
  std::vector<SigningKeyInfo> keys = UnboundedKeys(options.public_keys);
  keys.insert(keys.end(), options.signing_keys.begin(),
              options.signing_keys.end());
  for (const SigningKeyInfo& key : keys) {
    if (key.public_key.size() != 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a public key is ", key.public_key.size(), " bytes, not 32"));
    }
  }
  return keys;
}

}  // namespace

absl::StatusOr<AuditVerification> AuditLogs::Verify(
    std::uint64_t log, const AuditVerifyOptions& options) const {
  LEYSER_ASSIGN_OR_RETURN(std::vector<SigningKeyInfo> keys,
                          AcceptedKeys(options));
  if (keys.empty()) keys = known_keys();
  const std::string origin = Origin(log);
  AuditVerification out;
  LEYSER_ASSIGN_OR_RETURN(
      std::vector<TrustedRoot> roots,
      TrustedRoots(options.trusted_checkpoints, origin, keys,
                   &out.trusted_checkpoints_rejected));
  out.trusted_checkpoints_given = roots.size();
  // One snapshot for everything read, tree nodes included: maintenance may
  // prune the log meanwhile.
  const ScopedSnapshot snapshot(db_);
  const rocksdb::ReadOptions& read = snapshot.read();

  proto::AuditLogMeta meta;
  {
    std::string bytes;
    rocksdb::Status s = db_->Get(read, cf_, AuditLogKey(log, 'm'), &bytes);
    if (!s.IsNotFound()) {
      LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit log"));
      if (absl::Status opened = OpenMeta(log, bytes, &meta); !opened.ok()) {
        out.intact = false;
        out.problem = std::string(opened.message());
        return out;
      }
    }
  }
  // Stored checkpoints: each must be signed and reproduced.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf_));
    const std::string prefix = AuditLogKey(log, 'c');
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      const std::string note = it->value().ToString();
      absl::StatusOr<AuditCheckpoint> cp = ParseAuditCheckpoint(note);
      const std::uint64_t key_size =
          it->key().size() == prefix.size() + 8
              ? DecodeBigEndian64(
                    std::string_view(it->key().data() + prefix.size(), 8))
              : 0;
      if (!cp.ok() || !IsOwnOrigin(log, cp->origin) || cp->size != key_size ||
          !CheckpointSignedByAny(note, keys)) {
        out.intact = false;
        out.first_bad_seq = key_size > 0 ? key_size - 1 : 0;
        out.problem = absl::StrCat("the stored checkpoint of size ", key_size,
                                   " is damaged or not signed by an accepted "
                                   "key");
        return out;
      }
      roots.push_back(RootOf(*cp, "stored"));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading checkpoints"));
  }
  const std::uint64_t first = meta.first_retained();
  merkle::CompactRange start;
  if (first > 0) {
    absl::StatusOr<merkle::CompactRange> kept =
        merkle::ReadCompactRange(first, Reader(log, snapshot.get()));
    if (!kept.ok()) {
      out.intact = false;
      out.first_bad_seq = first;
      out.problem = "the kept hashes of the pruned entries are missing";
      return out;
    }
    start = *std::move(kept);
  }
  LogChecker checker(log, start, std::move(roots), &out);
  checker.start_hashes_ = start.hashes();
  {
    std::unique_ptr<rocksdb::Iterator> entries(db_->NewIterator(read, cf_));
    const std::string entry_prefix = AuditLogKey(log, 'e');
    AuditNodes nodes;
    for (entries->Seek(AuditEntryKey(log, first));
         entries->Valid() && entries->key().starts_with(entry_prefix);
         entries->Next()) {
      if (entries->key().size() != entry_prefix.size() + 8) {
        checker.Fail(checker.frontier().size(), "a malformed entry key");
        break;
      }
      const std::uint64_t seq = DecodeBigEndian64(
          std::string_view(entries->key().data() + entry_prefix.size(), 8));
      const rocksdb::Slice v = entries->value();
      std::string_view entry;
      if (seq == checker.frontier().size() &&
          !DecodeAuditRecord(std::string_view(v.data(), v.size()), &entry,
                             &nodes)) {
        checker.Fail(seq, absl::StrCat("record ", seq, " is malformed"));
        break;
      }
      if (!checker.Add(seq, entry, &nodes)) break;
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(entries->status(), "reading entries"));
  }
  if (!checker.Finish()) return out;
  // The stored tree nodes that future appends and proofs build on.
  absl::StatusOr<merkle::CompactRange> stored =
      merkle::ReadCompactRange(out.size, Reader(log, snapshot.get()));
  if (!stored.ok() || stored->hashes() != checker.frontier().hashes()) {
    checker.Fail(out.size > 0 ? out.size - 1 : 0,
                 "the stored tree nodes do not match the entries");
  }
  return out;
}

}  // namespace internal

absl::StatusOr<AuditVerification> VerifyAuditExport(
    std::string_view jsonl, const AuditVerifyOptions& options) {
  using internal::ToAbsl;
  namespace merkle = internal::merkle;
  LEYSER_ASSIGN_OR_RETURN(const std::vector<SigningKeyInfo> keys,
                          internal::AcceptedKeys(options));
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        "VerifyAuditExport needs the signer's public key "
        "(AuditVerifyOptions::signing_keys or public_keys)");
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(ToAbsl(jsonl), '\n', absl::SkipEmpty());
  if (lines.empty()) {
    return absl::InvalidArgumentError("the export is empty");
  }
  proto::AuditExportHeader header;
  if (!google::protobuf::util::JsonStringToMessage(std::string(lines[0]),
                                                   &header)
           .ok() ||
      (header.format() != internal::kExportFormat &&
       header.format() != internal::kExportFormatV1)) {
    return absl::InvalidArgumentError(
        "the first line is not a leyser audit export header");
  }
  AuditVerification out;
  out.first_retained = header.from_seq();
  absl::StatusOr<AuditCheckpoint> cp =
      ParseAuditCheckpoint(header.checkpoint());
  if (!cp.ok() || cp->origin != header.origin() ||
      !internal::CheckpointSignedByAny(header.checkpoint(), keys)) {
    out.intact = false;
    out.first_bad_seq = header.from_seq();
    out.problem =
        "the export's checkpoint is malformed or not signed by a "
        "given key";
    return out;
  }
  merkle::RangeProof proof;
  for (const std::string& h : header.proof_left()) {
    std::optional<merkle::Hash> hash = internal::HashFromBytes(h);
    if (!hash) return absl::InvalidArgumentError("a proof hash is malformed");
    proof.left.push_back(*hash);
  }
  for (const std::string& h : header.proof_right()) {
    std::optional<merkle::Hash> hash = internal::HashFromBytes(h);
    if (!hash) return absl::InvalidArgumentError("a proof hash is malformed");
    proof.right.push_back(*hash);
  }
  absl::StatusOr<merkle::CompactRange> start =
      merkle::CompactRange::FromHashes(header.from_seq(), proof.left);
  if (!start.ok()) {
    out.intact = false;
    out.first_bad_seq = header.from_seq();
    out.problem = "the export's proof has the wrong shape";
    return out;
  }
  LEYSER_ASSIGN_OR_RETURN(
      std::vector<internal::TrustedRoot> roots,
      internal::TrustedRoots(options.trusted_checkpoints, header.origin(), keys,
                             &out.trusted_checkpoints_rejected));
  out.trusted_checkpoints_given = roots.size();
  // A trusted checkpoint of the export's own size must have its root: else
  // the export comes from a fork (a rolled-back or rewritten store).
  for (const internal::TrustedRoot& r : roots) {
    if (r.size == cp->size && r.root != cp->root) {
      out.intact = false;
      out.first_bad_seq = header.from_seq();
      out.problem = absl::StrCat(
          "the export's checkpoint of size ", cp->size,
          " disagrees with a trusted checkpoint of that size: a fork");
      return out;
    }
  }
  const bool standard_proofs = header.format() == internal::kExportFormat;
  std::optional<merkle::Hash> export_root = internal::HashFromBytes(cp->root);
  // Checkpoints outside the exported range (and smaller than the export's):
  // checked by the export's RFC 9162 consistency proof from their size.
  std::uint64_t consistent = 0;
  for (const internal::TrustedRoot& r : roots) {
    if (r.size >= header.from_seq() && r.size <= header.to_seq()) continue;
    if (r.size == cp->size) {
      ++consistent;  // Its root was compared above.
      continue;
    }
    if (r.size > cp->size || !standard_proofs) continue;
    for (const proto::ConsistencyProof& p : header.consistency()) {
      if (p.size() != r.size) continue;
      std::vector<merkle::Hash> path;
      for (const std::string& h : p.hashes()) {
        std::optional<merkle::Hash> hash = internal::HashFromBytes(h);
        if (!hash)
          return absl::InvalidArgumentError("a proof hash is malformed");
        path.push_back(*hash);
      }
      std::optional<merkle::Hash> trusted = internal::HashFromBytes(r.root);
      if (!trusted || !export_root ||
          !merkle::VerifyConsistency(r.size, cp->size, *trusted, *export_root,
                                     path)) {
        out.intact = false;
        out.first_bad_seq = header.from_seq();
        out.problem = absl::StrCat(
            "the export's checkpoint of size ", cp->size,
            " is not consistent with the trusted checkpoint of size ", r.size,
            ": a fork (a rolled-back or rewritten store)");
        return out;
      }
      ++consistent;
      break;
    }
  }
  // Those ending inside the exported range are recomputed from the entries.
  roots.erase(std::remove_if(roots.begin(), roots.end(),
                             [&](const internal::TrustedRoot& r) {
                               return r.size < header.from_seq() ||
                                      r.size > header.to_seq();
                             }),
              roots.end());
  merkle::InclusionVerifier inclusion_proofs(
      cp->size, export_root.value_or(merkle::Hash{}));
  // The log number is whatever the entries say; it must not change.
  std::uint64_t log = 0;
  std::vector<merkle::Hash> leaves;
  bool first_line = true;
  std::optional<internal::LogChecker> checker;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::uint64_t expected = header.from_seq() + leaves.size();
    std::uint64_t seq = 0;
    std::string stored;
    std::vector<std::string> inclusion;
    if (!internal::ParseExportLine(
            std::string_view(lines[i].data(), lines[i].size()), &seq, &stored,
            &inclusion)) {
      out.intact = false;
      out.first_bad_seq = expected;
      out.problem = absl::StrCat("line ", i + 1, " is not an export line");
      return out;
    }
    proto::AuditEntry decoded;
    if (!decoded.ParseFromString(stored) ||
        internal::ExportLine(seq, stored, inclusion, decoded, header.log()) !=
            std::string_view(lines[i].data(), lines[i].size())) {
      out.intact = false;
      out.first_bad_seq = seq;
      out.problem = absl::StrCat(
          "entry ", seq, ": the readable entry differs from its stored bytes");
      return out;
    }
    if (first_line) {
      log = decoded.log();
      checker.emplace(log, *start, roots, &out);
      checker->start_hashes_ = start->hashes();
      first_line = false;
    }
    if (!checker->Add(seq, stored, nullptr)) {
      return out;
    }
    leaves.push_back(merkle::LeafHash(stored));
    if (standard_proofs) {
      // Each entry's own RFC 9162 inclusion proof in the checkpoint's tree.
      std::vector<merkle::Hash> path;
      for (const std::string& h : inclusion) {
        path.push_back(*internal::HashFromBytes(h));  // 32 bytes: parsed so.
      }
      if (!export_root || !inclusion_proofs.Verify(seq, leaves.back(), path)) {
        checker->Fail(seq,
                      "the entry's inclusion proof does not lead to the "
                      "signed checkpoint's root");
        return out;
      }
    }
  }
  if (!checker) checker.emplace(log, *start, roots, &out);
  if (header.from_seq() + leaves.size() != header.to_seq()) {
    checker->Fail(header.from_seq() + leaves.size(),
                  "the export ends before its last entry");
    return out;
  }
  out.size = header.to_seq();
  absl::StatusOr<merkle::Hash> root =
      merkle::RootFromRange(header.from_seq(), leaves, cp->size, proof);
  if (!root.ok() || internal::HashToBytes(*root) != cp->root) {
    checker->Fail(header.from_seq(),
                  "the entries and proof do not reproduce the signed "
                  "checkpoint's root");
    return out;
  }
  ++out.checkpoints_checked;
  out.trusted_checkpoints_applied += consistent;
  checker->CoveredByExportCheckpoint(cp->time, cp->size);
  return out;
}

}  // namespace leyser
