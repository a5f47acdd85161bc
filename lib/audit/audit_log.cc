#include "lib/audit/audit_log.h"

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "rocksdb/write_batch.h"

#include "lib/audit/log_internal.h"
#include "lib/crypto/sodium.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/proto.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {

constexpr char kLibraryVersion[] = "leyser/" LEYSER_VERSION;

}  // namespace

AuditLogs::AuditLogs(AuditConfig config, rocksdb::DB* db,
                     rocksdb::ColumnFamilyHandle* cf,
                     std::shared_ptr<const CheckpointSigner> signer,
                     std::shared_ptr<const void> keep_alive)
    : config_(std::move(config)),
      keep_alive_(std::move(keep_alive)),
      db_(db),
      cf_(cf),
      signer_(std::move(signer)) {
  if (config_.sink != nullptr) {
    publisher_ = std::thread([this] { PublisherLoop(); });
  }
}

AuditLogs::~AuditLogs() { Stop(); }

std::string AuditLogs::OriginIn(std::string_view series,
                                std::uint64_t log) const {
  std::string origin = absl::StrCat("leyser/", config_.installation_id, "/");
  if (!series.empty()) absl::StrAppend(&origin, ToAbsl(series), "/");
  if (log == kSystemLogNumber) {
    absl::StrAppend(&origin, "system");
  } else {
    absl::StrAppend(&origin, "tenant/", log);
  }
  return origin;
}

std::string AuditLogs::Origin(std::uint64_t log) const {
  return OriginIn(config_.series, log);
}

bool AuditLogs::IsOwnOrigin(std::uint64_t log, std::string_view origin) const {
  if (origin == Origin(log)) return true;
  for (const std::string& series : config_.earlier_series) {
    if (origin == OriginIn(series, log)) return true;
  }
  return false;
}

std::optional<std::string> AuditLogs::UnknownSeriesOf(
    std::string_view origin) const {
  const std::string prefix =
      absl::StrCat("leyser/", config_.installation_id, "/");
  if (origin.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view rest = origin.substr(prefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view series = rest.substr(0, slash);
  if (series == "system" || series == "tenant") return std::nullopt;
  if (series == config_.series) return std::nullopt;
  for (const std::string& earlier : config_.earlier_series) {
    if (series == earlier) return std::nullopt;
  }
  return std::string(series);
}

std::optional<std::uint64_t> AuditLogs::LogOfOrigin(
    std::string_view origin) const {
  const std::string system = Origin(kSystemLogNumber);
  if (origin == system) return kSystemLogNumber;
  std::string_view prefix(system);
  prefix.remove_suffix(std::string_view("system").size());
  if (origin.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = origin.substr(prefix.size());
  if (rest.substr(0, 7) != "tenant/") return std::nullopt;
  std::uint64_t log = 0;
  if (!absl::SimpleAtoi(ToAbsl(rest.substr(7)), &log) ||
      log == kSystemLogNumber || Origin(log) != origin) {
    return std::nullopt;
  }
  return log;
}

std::string AuditLogs::public_key() const {
  absl::MutexLock lock(&signer_mu_);
  return signer_->public_key();
}

std::vector<SigningKeyInfo> AuditLogs::known_keys() const {
  absl::MutexLock lock(&signer_mu_);
  std::vector<SigningKeyInfo> keys = known_keys_;
  const std::string& current = signer_->public_key();
  if (std::none_of(keys.begin(), keys.end(), [&](const SigningKeyInfo& k) {
        return k.public_key == current;
      })) {
    SigningKeyInfo info;
    info.public_key = current;
    keys.push_back(std::move(info));
  }
  return keys;
}

void AuditLogs::SetKnownKeys(std::vector<SigningKeyInfo> keys) {
  absl::MutexLock lock(&signer_mu_);
  known_keys_ = std::move(keys);
}

std::vector<std::shared_ptr<const CheckpointSigner>> AuditLogs::Signers()
    const {
  absl::MutexLock lock(&signer_mu_);
  return {signer_};
}

absl::StatusOr<merkle::Hash> AuditLogs::ReadNode(
    std::uint64_t log, int level, std::uint64_t index,
    const rocksdb::Snapshot* snapshot) const {
  rocksdb::ReadOptions read;
  read.snapshot = snapshot;
  // The node was completed by the append of leaf (index + 1) * 2^level - 1 and
  // is kept in its record, unless that entry was pruned.
  if (level < 0 || level > 63 || index >= (std::uint64_t{1} << (63 - level))) {
    return Damaged(log, "a tree node position is out of range");
  }
  const std::uint64_t seq = ((index + 1) << level) - 1;
  std::string value;
  rocksdb::Status s = db_->Get(read, cf_, AuditEntryKey(log, seq), &value);
  if (s.ok()) {
    std::string_view entry;
    AuditNodes nodes;
    if (!DecodeAuditRecord(value, &entry, &nodes)) {
      return Damaged(log, absl::StrCat("record ", seq, " is malformed"));
    }
    for (const auto& [l, h] : nodes) {
      if (l == level) return h;
    }
    return Damaged(log, absl::StrCat("record ", seq, " lacks tree node ", level,
                                     "/", index));
  }
  if (!s.IsNotFound()) {
    return FromRocks(s, "reading the audit log");
  }
  s = db_->Get(read, cf_, AuditNodeKey(log, level, index), &value);
  if (s.IsNotFound()) {
    return Damaged(
        log, absl::StrCat("tree node ", level, "/", index, " is missing"));
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit log"));
  std::optional<merkle::Hash> h = HashFromBytes(value);
  if (!h) return Damaged(log, "a tree node has the wrong size");
  return *h;
}

merkle::NodeReader AuditLogs::Reader(std::uint64_t log,
                                     const rocksdb::Snapshot* snapshot) const {
  return [this, log, snapshot](int level, std::uint64_t index) {
    return ReadNode(log, level, index, snapshot);
  };
}

absl::StatusOr<std::shared_ptr<AuditLogs::LogState>> AuditLogs::State(
    std::uint64_t log) {
  std::lock_guard<std::mutex> lock(states_mu_);
  std::shared_ptr<LogState>& state = states_[log];
  if (state == nullptr) state = std::make_shared<LogState>();
  return state;
}

std::string AuditLogs::SealMeta(std::uint64_t log,
                                const proto::AuditLogMeta& meta) const {
  return config_.record_mac->Seal(kAuditTable, MetaKey(log),
                                  meta.SerializeAsString());
}

absl::Status AuditLogs::OpenMeta(std::uint64_t log, std::string_view stored,
                                 proto::AuditLogMeta* meta) const {
  LEYSER_ASSIGN_OR_RETURN(
      std::string_view payload,
      config_.record_mac->Open(
          kAuditTable, MetaKey(log), stored,
          log == kSystemLogNumber
              ? std::string("the state record of the store's audit log")
              : absl::StrCat("the state record of the audit log of tenant "
                             "number ",
                             log)));
  if (!meta->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Damaged(log, "its state record");
  }
  return absl::OkStatus();
}

absl::Status SealLegacyAuditStates(rocksdb::DB* db,
                                   rocksdb::ColumnFamilyHandle* cf,
                                   const RecordMac& mac) {
  rocksdb::WriteBatch batch;
  {
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
    // Visits each log's state record ("\x80" log8 'm'), skipping its entries.
    for (it->Seek(AuditLogKey(0, 'm')); it->Valid();) {
      const std::string_view key(it->key().data(), it->key().size());
      if (key.size() < 10 || key[0] != '\x80') break;
      const std::uint64_t log = DecodeBigEndian64(key.substr(1, 8));
      if (key == MetaKey(log)) {
        LEYSER_ASSIGN_OR_RETURN(
            std::optional<std::string> sealed,
            mac.SealLegacy(
                kAuditTable, key,
                std::string_view(it->value().data(), it->value().size()),
                absl::StrCat("the state record of audit log ", log)));
        if (sealed.has_value()) {
          LEYSER_RETURN_IF_ERROR(FromRocks(batch.Put(cf, it->key(), *sealed),
                                           "sealing the audit logs"));
        }
      }
      if (key.compare(MetaKey(log)) < 0) {
        it->Seek(MetaKey(log));
      } else if (log == UINT64_MAX) {
        break;
      } else {
        it->Seek(AuditLogKey(log + 1, 'm'));
      }
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the audit logs"));
  }
  return FromRocks(db->Write(SyncWrite(), &batch), "sealing the audit logs");
}

absl::Status AuditLogs::NewestEntry(std::uint64_t log, std::uint64_t* size,
                                    std::uint64_t* revision,
                                    rocksdb::Iterator* shared) const {
  *size = 0;
  *revision = 0;
  std::unique_ptr<rocksdb::Iterator> own;
  rocksdb::Iterator* it = shared;
  if (it == nullptr) {
    own.reset(db_->NewIterator(rocksdb::ReadOptions(), cf_));
    it = own.get();
  }
  const std::string prefix = AuditLogKey(log, 'e');
  it->SeekForPrev(AuditEntryKey(log, UINT64_MAX));
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the audit log"));
  if (!it->Valid() || !it->key().starts_with(prefix) ||
      it->key().size() != prefix.size() + 8) {
    return absl::OkStatus();  // An empty log.
  }
  *size =
      DecodeBigEndian64(std::string_view(it->key().data() + prefix.size(), 8)) +
      1;
  proto::AuditEntry entry;
  std::string_view bytes;
  AuditNodes nodes;
  // The entry must be the leaf its record's tree hashes stand for (the
  // checkpoints vouch for those hashes, the hashes for the entry).
  if (!DecodeAuditRecord(
          std::string_view(it->value().data(), it->value().size()), &bytes,
          &nodes) ||
      nodes.empty() || nodes.front().first != 0 ||
      nodes.front().second != merkle::LeafHash(bytes) ||
      !entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Damaged(log, absl::StrCat("record ", *size - 1, " is malformed"));
  }
  *revision = entry.record_revision();
  return absl::OkStatus();
}

std::vector<absl::StatusOr<std::uint64_t>> AuditLogs::LastRecordRevisions(
    const std::vector<std::uint64_t>& logs) {
  std::vector<absl::StatusOr<std::uint64_t>> out;
  out.reserve(logs.size());
  // One iterator for all (creating one per log costs more than its seek).
  // The logs come in ascending order, so the seeks walk the column family
  // forward: reading ahead turns a read per block into one per megabyte.
  rocksdb::ReadOptions ro;
  ro.readahead_size = 1 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
  for (std::uint64_t log : logs) {
    std::shared_ptr<LogState> state;
    {
      std::lock_guard<std::mutex> lock(states_mu_);
      auto found = states_.find(log);
      if (found != states_.end()) state = found->second;
    }
    if (state != nullptr) {
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->loaded) {
        out.push_back(state->last_revision);
        continue;
      }
    }
    std::uint64_t size = 0;
    std::uint64_t revision = 0;
    absl::Status s = NewestEntry(log, &size, &revision, it.get());
    if (s.ok()) {
      out.push_back(revision);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

absl::Status AuditLogs::Load(std::uint64_t log, LogState& state) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  std::string bytes;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf_, MetaKey(log), &bytes);
  proto::AuditLogMeta meta;
  if (!s.IsNotFound()) {
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit log"));
    LEYSER_RETURN_IF_ERROR(OpenMeta(log, bytes, &meta));
  }
  std::uint64_t size = 0;
  std::uint64_t last_revision = 0;
  LEYSER_RETURN_IF_ERROR(NewestEntry(log, &size, &last_revision));
  if (size < meta.first_retained() || size < meta.checkpoint_size()) {
    return Damaged(log, "its newest entries are missing");
  }
  LEYSER_ASSIGN_OR_RETURN(merkle::CompactRange frontier,
                          merkle::ReadCompactRange(size, Reader(log)));
  if (meta.checkpoint_size() > 0) {
    // The newest checkpoint must match the stored tree (O(log n) reads).
    std::string note;
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->Get(rocksdb::ReadOptions(), cf_,
                           CheckpointKey(log, meta.checkpoint_size()), &note),
                  "reading the audit log's newest checkpoint"));
    merkle::Hash root;
    if (meta.checkpoint_size() == size) {
      root = frontier.Root();  // Usually: the whole log is covered.
    } else {
      LEYSER_ASSIGN_OR_RETURN(
          merkle::CompactRange at_checkpoint,
          merkle::ReadCompactRange(meta.checkpoint_size(), Reader(log)));
      root = at_checkpoint.Root();
    }
    absl::StatusOr<AuditCheckpoint> cp = ParseAuditCheckpoint(note);
    if (!cp.ok() || !IsOwnOrigin(log, cp->origin) ||
        cp->size != meta.checkpoint_size() || cp->root != HashToBytes(root)) {
      return Damaged(log,
                     "the stored tree does not match its newest checkpoint");
    }
  }
  state.size = size;
  state.last_revision = last_revision;
  state.frontier = std::move(frontier);
  state.meta = std::move(meta);
  state.first_uncovered_micros = size > state.meta.checkpoint_size()
                                     ? absl::ToUnixMicros(config_.clock->Now())
                                     : INT64_MAX;
  state.loaded = true;
  return absl::OkStatus();
}

void AuditLogs::StageEntry(std::uint64_t log, proto::AuditEntry& entry,
                           std::int64_t now_micros, Staged& staged,
                           rocksdb::WriteBatch* batch) const {
  entry.set_log(log);
  entry.set_seq(staged.size);
  // Strings from callers (actors, paths, messages) may be any bytes; entries
  // must parse back.
  *entry.mutable_actor() = ValidUtf8(entry.actor());
  *entry.mutable_target() = ValidUtf8(entry.target());
  *entry.mutable_message() = ValidUtf8(entry.message());
  for (auto& [key, value] : *entry.mutable_details()) value = ValidUtf8(value);
  entry.set_time_micros(now_micros);
  entry.set_library_version(kLibraryVersion);
  const std::string bytes = SerializeDeterministic(entry);
  AuditNodes nodes;
  staged.frontier.Append(merkle::LeafHash(bytes),
                         [&](int level, std::uint64_t, const merkle::Hash& h) {
                           nodes.emplace_back(level, h);
                         });
  batch
      ->Put(cf_, AuditEntryKey(log, staged.size),
            EncodeAuditRecord(bytes, nodes))
      .PermitUncheckedError();
  ++staged.size;
  staged.first_uncovered_micros =
      std::min(staged.first_uncovered_micros, now_micros);
}

absl::Status AuditLogs::StageCheckpoint(std::uint64_t log, absl::Time now,
                                        Staged& staged,
                                        rocksdb::WriteBatch* batch) const {
  // Checkpoint times strictly increase, whatever the clock does.
  const std::int64_t micros = std::max(
      absl::ToUnixMicros(now), staged.meta.checkpoint_time_micros() + 1);
  const std::string body = CheckpointBody(
      Origin(log), staged.size, staged.frontier.Root(), FromMicros(micros));
  LEYSER_ASSIGN_OR_RETURN(std::string note, SignCheckpoint(body, Signers()));
  LEYSER_RETURN_IF_ERROR(FromRocks(
      batch->Put(cf_, CheckpointKey(log, staged.size), note), "checkpointing"));
  staged.meta.set_checkpoint_size(staged.size);
  staged.meta.set_checkpoint_time_micros(micros);
  LEYSER_RETURN_IF_ERROR(
      FromRocks(batch->Put(cf_, MetaKey(log), SealMeta(log, staged.meta)),
                "checkpointing"));
  // Nothing left to do for this log, unless a sink must take it later.
  if (config_.sink == nullptr && !anchored_before_.load()) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch->Delete(cf_, DirtyKey(log)), "checkpointing"));
  }
  staged.first_uncovered_micros = INT64_MAX;
  staged.checkpointed = true;
  return absl::OkStatus();
}

absl::Status AuditLogs::Commit(rocksdb::WriteBatch* batch,
                               std::vector<proto::AuditEntry> entries,
                               const rocksdb::WriteOptions& write_options,
                               bool new_logs) {
  std::vector<std::uint64_t> logs;
  for (const proto::AuditEntry& e : entries) logs.push_back(e.log());
  std::sort(logs.begin(), logs.end());
  logs.erase(std::unique(logs.begin(), logs.end()), logs.end());
  std::vector<std::shared_ptr<LogState>> states;
  for (std::uint64_t log : logs) {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
    states.push_back(std::move(state));
  }
  for (auto& state : states) state->mu.lock();
  struct Unlock {
    std::vector<std::shared_ptr<LogState>>& states;
    ~Unlock() {
      for (auto it = states.rbegin(); it != states.rend(); ++it) {
        (*it)->mu.unlock();
      }
    }
  };
  std::vector<Staged> staged(states.size());
  bool any_checkpoint = false;
  const absl::Time now = config_.clock->Now();
  {
    Unlock unlock{states};
    for (std::size_t i = 0; i < states.size(); ++i) {
      LogState& s = *states[i];
      if (!s.loaded && new_logs) {
        s.loaded = true;  // Empty, as constructed.
      } else if (!s.loaded) {
        LEYSER_RETURN_IF_ERROR(Load(logs[i], s));
      }
      staged[i] =
          Staged{s.size, s.frontier, s.meta, s.first_uncovered_micros, false};
    }
    const std::int64_t now_micros = absl::ToUnixMicros(now);
    for (std::size_t i = 0; i < states.size(); ++i) {
      if (staged[i].size == staged[i].meta.checkpoint_size()) {
        batch->Put(cf_, DirtyKey(logs[i]), "").PermitUncheckedError();
      }
    }
    std::vector<std::uint64_t> revisions(states.size());
    for (std::size_t i = 0; i < states.size(); ++i) {
      revisions[i] = states[i]->last_revision;
    }
    for (proto::AuditEntry& e : entries) {
      const std::size_t i =
          std::lower_bound(logs.begin(), logs.end(), e.log()) - logs.begin();
      // Entries written with their log's registry record carry its new
      // revision; every other entry the newest before.
      if (e.record_revision() == 0) {
        e.set_record_revision(revisions[i]);
      } else {
        revisions[i] = std::max(revisions[i], e.record_revision());
      }
      StageEntry(logs[i], e, now_micros, staged[i], batch);
    }
    for (std::size_t i = 0; i < states.size(); ++i) {
      Staged& st = staged[i];
      const bool by_count =
          st.size - st.meta.checkpoint_size() >= config_.checkpoint_entries;
      const bool by_time =
          st.size > st.meta.checkpoint_size() &&
          now_micros - st.first_uncovered_micros >=
              absl::ToInt64Microseconds(config_.checkpoint_interval);
      if (by_count || by_time) {
        LEYSER_RETURN_IF_ERROR(StageCheckpoint(logs[i], now, st, batch));
        any_checkpoint = true;
      }
    }
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->Write(write_options, batch), "writing the audit log"));
    for (std::size_t i = 0; i < states.size(); ++i) {
      LogState& s = *states[i];
      s.size = staged[i].size;
      s.frontier = std::move(staged[i].frontier);
      s.meta = std::move(staged[i].meta);
      s.first_uncovered_micros = staged[i].first_uncovered_micros;
      s.last_revision = revisions[i];
    }
  }
  ObserveClock(now);
  if (any_checkpoint && !in_publish) {
    for (std::size_t i = 0; i < logs.size(); ++i) {
      if (staged[i].checkpointed) Schedule(logs[i]);
    }
  }
  return absl::OkStatus();
}

absl::Status AuditLogs::Record(proto::AuditEntry entry) {
  rocksdb::WriteBatch batch;
  std::vector<proto::AuditEntry> entries;
  entries.push_back(std::move(entry));
  return Commit(&batch, std::move(entries), SyncWrite());
}

void AuditLogs::SeedClock(absl::Time t) {
  const std::int64_t micros = absl::ToUnixMicros(t);
  std::int64_t seen = latest_clock_micros_.load();
  while (micros > seen &&
         !latest_clock_micros_.compare_exchange_weak(seen, micros)) {
  }
}

void AuditLogs::ObserveClock(absl::Time now) {
  const std::int64_t micros = absl::ToUnixMicros(now);
  const std::int64_t tolerance = absl::ToInt64Microseconds(kClockSkewTolerance);
  std::int64_t seen = latest_clock_micros_.load();
  while (true) {
    if (seen != INT64_MIN && micros < seen - tolerance) {
      if (!latest_clock_micros_.compare_exchange_weak(seen, micros)) continue;
      proto::AuditEntry entry = NewAuditEntry(
          kSystemLogNumber, proto::AUDIT_EVENT_CLOCK_SKEW, "store", "clock");
      (*entry.mutable_details())["previous"] = Rfc3339(FromMicros(seen));
      (*entry.mutable_details())["now"] = Rfc3339(now);
      Record(std::move(entry)).IgnoreError();  // Best effort: a report.
      return;
    }
    if (micros <= seen) return;
    if (latest_clock_micros_.compare_exchange_weak(seen, micros)) return;
  }
}

absl::StatusOr<std::vector<std::pair<proto::AuditEntry, std::string>>>
AuditLogs::Read(std::uint64_t log, std::uint64_t from, std::size_t max,
                const rocksdb::Snapshot* snapshot) const {
  std::vector<std::pair<proto::AuditEntry, std::string>> out;
  rocksdb::ReadOptions read;
  read.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf_));
  const std::string prefix = AuditLogKey(log, 'e');
  for (it->Seek(AuditEntryKey(log, from));
       it->Valid() && it->key().starts_with(prefix) && out.size() < max;
       it->Next()) {
    proto::AuditEntry entry;
    std::string_view bytes;
    if (!ParseAuditRecord(
            std::string_view(it->value().data(), it->value().size()), &entry,
            &bytes)) {
      return Damaged(log, "an entry does not parse");
    }
    out.emplace_back(std::move(entry), std::string(bytes));
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the audit log"));
  return out;
}

absl::StatusOr<AuditLogInfo> AuditLogs::Info(std::uint64_t log) {
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
  std::lock_guard<std::mutex> lock(state->mu);
  if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
  AuditLogInfo info;
  info.origin = Origin(log);
  info.size = state->size;
  info.first_retained = state->meta.first_retained();
  info.checkpoint_size = state->meta.checkpoint_size();
  info.anchored_size = state->meta.anchored_size();
  return info;
}

absl::StatusOr<std::string> AuditLogs::LatestCheckpoint(std::uint64_t log) {
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> notes,
                          LatestCheckpoints({log}));
  return std::move(notes.front());
}

}  // namespace leyser::internal
