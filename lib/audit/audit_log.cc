#include "lib/audit/audit_log.h"

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"

#include "lib/crypto/sodium.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/coding.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {
using ::leyser::internal::AuditLogKey;

constexpr char kLibraryVersion[] = "leyser/" LEYSER_VERSION;
constexpr char kExportFormat[] = "leyser-audit-export/1";
// Concurrent threads may read the clock slightly out of order; a step back
// smaller than this is not reported.
// A write stalled for seconds (fsync, write stall) reads its clock early; a
// step back smaller than this is not reported.
constexpr absl::Duration kClockSkewTolerance = absl::Seconds(10);

std::string CheckpointKey(std::uint64_t log, std::uint64_t size) {
  std::string key = AuditLogKey(log, 'c');
  AppendBigEndian64(size, &key);
  return key;
}

std::string MetaKey(std::uint64_t log) { return AuditLogKey(log, 'm'); }

// Logs that may hold entries not yet covered by a checkpoint, or checkpoints
// not yet anchored, are listed under this prefix (outside every log's range),
// so an open after a crash finds them without scanning every log.
constexpr std::string_view kDirtyPrefix =
    "\x81"
    "d";

std::string DirtyKey(std::uint64_t log) {
  std::string key(kDirtyPrefix);
  AppendBigEndian64(log, &key);
  return key;
}

// Comma-separated hex, as RETENTION entries list hashes.
std::string HexList(const std::vector<merkle::Hash>& hashes) {
  std::vector<std::string> hex;
  hex.reserve(hashes.size());
  for (const merkle::Hash& h : hashes) {
    hex.push_back(absl::BytesToHexString(HashToBytes(h)));
  }
  return absl::StrJoin(hex, ",");
}

std::string SerializeDeterministic(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::Time FromMicros(std::int64_t micros) {
  return absl::FromUnixMicros(micros);
}

absl::Status Damaged(std::uint64_t log, std::string_view what) {
  return absl::DataLossError(absl::StrCat(
      "the audit log ", log == kSystemLogNumber ? "of the store" : "of tenant ",
      log == kSystemLogNumber ? "" : absl::StrCat("number ", log),
      " is damaged (", ToAbsl(what),
      "); run VerifyAuditLog to find the first bad entry"));
}

// True if the note of a checkpoint parses and names `origin`, `size` and
// `root`.
bool CheckpointMatches(const std::string& note, std::string_view origin,
                       std::uint64_t size, const merkle::Hash& root) {
  absl::StatusOr<AuditCheckpoint> cp = ParseAuditCheckpoint(note);
  return cp.ok() && cp->origin == origin && cp->size == size &&
         cp->root == HashToBytes(root);
}

thread_local bool in_publish = false;

}  // namespace

std::string HashToBytes(const merkle::Hash& h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

std::optional<merkle::Hash> HashFromBytes(std::string_view bytes) {
  if (bytes.size() != 32) return std::nullopt;
  merkle::Hash h;
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

bool ParseAuditRecord(std::string_view record, proto::AuditEntry* entry,
                      std::string_view* bytes) {
  AuditNodes nodes;
  return DecodeAuditRecord(record, bytes, &nodes) &&
         entry->ParseFromArray(bytes->data(), static_cast<int>(bytes->size()));
}

std::string AuditLogKey(std::uint64_t log, char kind) {
  std::string key;
  key.reserve(19);
  // 0x80 first: no tenant data key starts with it (tenant numbers < 2^63), so
  // a tenant's audit records never look like its data.
  key.push_back('\x80');
  AppendBigEndian64(log, &key);
  key.push_back(kind);
  return key;
}

std::string AuditEntryKey(std::uint64_t log, std::uint64_t seq) {
  std::string key = AuditLogKey(log, 'e');
  AppendBigEndian64(seq, &key);
  return key;
}

std::string AuditNodeKey(std::uint64_t log, int level, std::uint64_t index) {
  std::string key = AuditLogKey(log, 'n');
  key.push_back(static_cast<char>(level));
  AppendBigEndian64(index, &key);
  return key;
}

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
};

struct AuditLogs::Staged {
  std::uint64_t size = 0;
  merkle::CompactRange frontier;
  proto::AuditLogMeta meta;
  std::int64_t first_uncovered_micros = INT64_MAX;
  bool checkpointed = false;
};

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

void AuditLogs::Stop() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
}

void AuditLogs::Schedule(std::uint64_t log) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_ || !publisher_.joinable()) return;
    queue_.insert(log);
  }
  queue_cv_.notify_one();
}

void AuditLogs::PublisherLoop() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  while (true) {
    queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::set<std::uint64_t> logs;
    logs.swap(queue_);
    lock.unlock();
    for (std::uint64_t log : logs) {
      PublishPending(log).IgnoreError();  // Recorded as ANCHOR_FAILURE.
    }
    lock.lock();
  }
}

std::string AuditLogs::Origin(std::uint64_t log) const {
  return log == kSystemLogNumber
             ? absl::StrCat("leyser/", config_.installation_id, "/system")
             : absl::StrCat("leyser/", config_.installation_id, "/tenant/",
                            log);
}

std::string AuditLogs::public_key() const {
  absl::MutexLock lock(&signer_mu_);
  return signer_->public_key();
}

std::vector<std::string> AuditLogs::known_keys() const {
  absl::MutexLock lock(&signer_mu_);
  std::vector<std::string> keys = known_keys_;
  if (std::find(keys.begin(), keys.end(), signer_->public_key()) ==
      keys.end()) {
    keys.push_back(signer_->public_key());
  }
  return keys;
}

void AuditLogs::AddKnownKey(std::string public_key) {
  absl::MutexLock lock(&signer_mu_);
  if (std::find(known_keys_.begin(), known_keys_.end(), public_key) ==
      known_keys_.end()) {
    known_keys_.push_back(std::move(public_key));
  }
}

std::vector<std::shared_ptr<const CheckpointSigner>> AuditLogs::Signers()
    const {
  absl::MutexLock lock(&signer_mu_);
  return {signer_};
}

std::string EncodeAuditRecord(std::string_view entry, const AuditNodes& nodes) {
  std::string out;
  out.reserve(4 + entry.size() + nodes.size() * 33);
  const auto n = static_cast<std::uint32_t>(entry.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out.append(entry);
  for (const auto& [level, hash] : nodes) {
    out.push_back(static_cast<char>(level));
    out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  }
  return out;
}

bool DecodeAuditRecord(std::string_view record, std::string_view* entry,
                       AuditNodes* nodes) {
  if (record.size() < 4) return false;
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n = (n << 8) | static_cast<unsigned char>(record[i]);
  }
  record.remove_prefix(4);
  if (record.size() < n || (record.size() - n) % 33 != 0) return false;
  *entry = record.substr(0, n);
  record.remove_prefix(n);
  nodes->clear();
  while (!record.empty()) {
    const int level = static_cast<unsigned char>(record[0]);
    if (level > 63) return false;
    merkle::Hash h;
    std::copy(record.begin() + 1, record.begin() + 33, h.begin());
    nodes->emplace_back(level, h);
    record.remove_prefix(33);
  }
  return true;
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

absl::Status AuditLogs::Load(std::uint64_t log, LogState& state) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  std::string bytes;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf_, MetaKey(log), &bytes);
  proto::AuditLogMeta meta;
  if (!s.IsNotFound()) {
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit log"));
    if (!meta.ParseFromString(bytes)) return Damaged(log, "its state record");
  }
  std::uint64_t size = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf_));
    const std::string prefix = AuditLogKey(log, 'e');
    it->SeekForPrev(AuditEntryKey(log, UINT64_MAX));
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the audit log"));
    if (it->Valid() && it->key().starts_with(prefix) &&
        it->key().size() == prefix.size() + 8) {
      size = DecodeBigEndian64(
                 std::string_view(it->key().data() + prefix.size(), 8)) +
             1;
    }
  }
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
    LEYSER_ASSIGN_OR_RETURN(
        merkle::CompactRange at_checkpoint,
        merkle::ReadCompactRange(meta.checkpoint_size(), Reader(log)));
    if (!CheckpointMatches(note, Origin(log), meta.checkpoint_size(),
                           at_checkpoint.Root())) {
      return Damaged(log,
                     "the stored tree does not match its newest checkpoint");
    }
  }
  state.size = size;
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
      FromRocks(batch->Put(cf_, MetaKey(log), staged.meta.SerializeAsString()),
                "checkpointing"));
  if (config_.sink == nullptr) {  // Nothing left to do for this log.
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
    for (proto::AuditEntry& e : entries) {
      const std::size_t i =
          std::lower_bound(logs.begin(), logs.end(), e.log()) - logs.begin();
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

absl::Status AuditLogs::PublishPending(std::uint64_t log) {
  if (config_.sink == nullptr) return absl::OkStatus();
  std::lock_guard<std::mutex> publishing(publish_mu_);
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
  std::uint64_t anchored = 0;
  std::uint64_t newest = 0;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
    anchored = state->meta.anchored_size();
    newest = state->meta.checkpoint_size();
  }
  if (anchored >= newest) return absl::OkStatus();
  // A checkpoint leaves the store only once it is durable here: with unsynced
  // writes it may still be in an unsynced WAL, and a power loss would then
  // leave the sink holding a tree this store no longer has.
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->FlushWAL(/*sync=*/true), "syncing checkpoints"));
  absl::Status failure;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf_));
    const std::string prefix = AuditLogKey(log, 'c');
    for (it->Seek(CheckpointKey(log, anchored + 1));
         it->Valid() && it->key().starts_with(prefix); it->Next()) {
      absl::StatusOr<AuditCheckpoint> cp =
          ParseAuditCheckpoint(it->value().ToString());
      if (!cp.ok()) {
        failure = Damaged(log, "a stored checkpoint does not parse");
        break;
      }
      if (cp->size > newest) break;
      failure = config_.sink->Publish(*cp);
      if (!failure.ok()) break;
      anchored = cp->size;
    }
    if (failure.ok()) failure = FromRocks(it->status(), "reading checkpoints");
  }
  bool report_failure = false;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (anchored > state->meta.anchored_size()) {
      proto::AuditLogMeta meta = state->meta;
      meta.set_anchored_size(anchored);
      // Not synced: if it is lost, the checkpoints are offered again (sinks
      // take a checkpoint more than once).
      rocksdb::WriteBatch batch;
      LEYSER_RETURN_IF_ERROR(
          FromRocks(batch.Put(cf_, MetaKey(log), meta.SerializeAsString()),
                    "recording an anchored checkpoint"));
      if (state->size == anchored) {
        LEYSER_RETURN_IF_ERROR(FromRocks(batch.Delete(cf_, DirtyKey(log)),
                                         "recording an anchored checkpoint"));
      }
      LEYSER_RETURN_IF_ERROR(
          FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                    "recording an anchored checkpoint"));
      state->meta = std::move(meta);
    }
    // One ANCHOR_FAILURE entry per failing streak of the sink.
    report_failure =
        anchor_failing_.exchange(!failure.ok()) == false && !failure.ok();
  }
  if (report_failure) {
    proto::AuditEntry entry = NewAuditEntry(
        kSystemLogNumber, proto::AUDIT_EVENT_ANCHOR_FAILURE, "store",
        log == kSystemLogNumber ? std::string(kSystemAuditLog)
                                : absl::StrCat("tenant/", log));
    SetAuditOutcome(failure, &entry);
    in_publish = true;
    absl::Status recorded = Record(std::move(entry));
    in_publish = false;
    recorded.IgnoreError();
  }
  return failure;
}

absl::Status AuditLogs::CheckpointLogs(bool all) {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<LogState>>> states;
  {
    std::lock_guard<std::mutex> lock(states_mu_);
    states.assign(states_.begin(), states_.end());
  }
  std::sort(states.begin(), states.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const absl::Time now = config_.clock->Now();
  const std::int64_t now_micros = absl::ToUnixMicros(now);
  absl::Status first_error;
  std::vector<std::uint64_t> to_publish;
  // In chunks: one synced write per chunk of logs (each locked, in ascending
  // order, until its checkpoint is written).
  constexpr std::size_t kChunk = 1024;
  for (std::size_t begin = 0; begin < states.size(); begin += kChunk) {
    const std::size_t end = std::min(states.size(), begin + kChunk);
    std::vector<std::unique_lock<std::mutex>> locks;
    std::vector<std::pair<std::size_t, Staged>> staged;
    rocksdb::WriteBatch batch;
    absl::Status s;
    for (std::size_t i = begin; i < end && s.ok(); ++i) {
      auto& [log, state] = states[i];
      locks.emplace_back(state->mu);
      if (!state->loaded || state->size <= state->meta.checkpoint_size() ||
          (!all &&
           now_micros - state->first_uncovered_micros <
               absl::ToInt64Microseconds(config_.checkpoint_interval))) {
        continue;
      }
      Staged st{state->size, state->frontier, state->meta,
                state->first_uncovered_micros, false};
      s = StageCheckpoint(log, now, st, &batch);
      staged.emplace_back(i, std::move(st));
    }
    if (s.ok() && !staged.empty()) {
      s = FromRocks(db_->Write(SyncWrite(), &batch), "checkpointing");
    }
    if (!s.ok()) {
      if (first_error.ok()) first_error = s;
      continue;
    }
    for (auto& [i, st] : staged) {
      states[i].second->meta = std::move(st.meta);
      states[i].second->first_uncovered_micros = INT64_MAX;
    }
    for (std::size_t i = begin; i < end; ++i) {
      const LogState& state = *states[i].second;
      if (config_.sink != nullptr && state.loaded &&
          state.meta.anchored_size() < state.meta.checkpoint_size()) {
        to_publish.push_back(states[i].first);
      }
    }
  }
  for (std::uint64_t log : to_publish) {
    PublishPending(log).IgnoreError();  // Recorded as ANCHOR_FAILURE.
  }
  states.clear();
  EvictCleanStates();
  return first_error;
}

absl::Status AuditLogs::LoadDirtyLogs() {
  std::vector<std::uint64_t> logs;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf_));
    for (it->Seek(std::string(kDirtyPrefix));
         it->Valid() && it->key().starts_with(std::string(kDirtyPrefix)) &&
         it->key().size() == kDirtyPrefix.size() + 8;
         it->Next()) {
      logs.push_back(DecodeBigEndian64(
          std::string_view(it->key().data() + kDirtyPrefix.size(), 8)));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the audit logs"));
  }
  for (std::uint64_t log : logs) {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
  }
  return absl::OkStatus();
}

void AuditLogs::EvictCleanStates() {
  std::lock_guard<std::mutex> lock(states_mu_);
  for (auto it = states_.begin(); it != states_.end();) {
    LogState& state = *it->second;
    bool clean = false;
    // Nobody else holds it (State() needs states_mu_ to hand out another).
    if (it->second.use_count() == 1 && state.mu.try_lock()) {
      clean = !state.loaded ||
              (state.size == state.meta.checkpoint_size() &&
               (config_.sink == nullptr ||
                state.meta.anchored_size() == state.meta.checkpoint_size()));
      state.mu.unlock();
    }
    if (clean) {
      states_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Status AuditLogs::Prune(std::uint64_t log, absl::Time now,
                              std::uint64_t* pruned) {
  *pruned = 0;
  if (config_.sink == nullptr) return absl::OkStatus();
  const std::int64_t cutoff = absl::ToUnixMicros(now - config_.retention);
  {
    // A look at the oldest kept entry first, without loading the log: most
    // logs have nothing to prune on most days.
    std::string bytes;
    rocksdb::ReadOptions peek;
    peek.fill_cache = false;
    proto::AuditLogMeta meta;
    rocksdb::Status s = db_->Get(peek, cf_, MetaKey(log), &bytes);
    if (s.ok() && !meta.ParseFromString(bytes)) {
      return Damaged(log, "its state record");
    }
    if (!s.ok() && !s.IsNotFound())
      return FromRocks(s, "reading the audit log");
    s = db_->Get(peek, cf_, AuditEntryKey(log, meta.first_retained()), &bytes);
    if (s.IsNotFound()) return absl::OkStatus();  // An empty log.
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit log"));
    std::string_view entry_bytes;
    proto::AuditEntry oldest;
    if (!ParseAuditRecord(bytes, &oldest, &entry_bytes)) {
      return Damaged(log, "an entry does not parse");
    }
    if (oldest.time_micros() >= cutoff) return absl::OkStatus();
  }
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
  std::uint64_t boundary = 0;
  // The newest entry to prune, as stored: it goes into the RETENTION entry so
  // a verifier can check its age against the kept hashes.
  std::string last_bytes;
  bool need_anchor = false;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
    boundary = state->meta.first_retained();
    constexpr std::size_t kChunk = 1024;
    for (bool more = true; more;) {
      LEYSER_ASSIGN_OR_RETURN(auto chunk, Read(log, boundary, kChunk));
      more = chunk.size() == kChunk;
      for (auto& [entry, stored] : chunk) {
        if (entry.time_micros() >= cutoff) {
          more = false;
          break;
        }
        boundary = entry.seq() + 1;
        last_bytes = std::move(stored);
      }
    }
    if (boundary <= state->meta.first_retained()) return absl::OkStatus();
    need_anchor = state->meta.anchored_size() < boundary;
  }
  if (need_anchor) {
    // Only behind a checkpoint the sink holds: sign one of this log now (if
    // entries are uncovered) and hand it over.
    LEYSER_RETURN_IF_ERROR(LatestCheckpoint(log).status());
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->meta.anchored_size() < boundary) return absl::OkStatus();
  }
  std::lock_guard<std::mutex> lock(state->mu);
  const std::uint64_t old_first = state->meta.first_retained();
  const std::uint64_t anchored = state->meta.anchored_size();
  LEYSER_ASSIGN_OR_RETURN(merkle::CompactRange kept,
                          merkle::ReadCompactRange(boundary, Reader(log)));
  LEYSER_ASSIGN_OR_RETURN(
      std::vector<merkle::Hash> last_proof,
      merkle::InclusionProof(boundary - 1, boundary, Reader(log)));
  std::string anchored_note;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), cf_,
                         CheckpointKey(log, anchored), &anchored_note),
                "reading the anchored checkpoint"));
  unsigned char note_hash[kSha256Bytes];
  Sha256({anchored_note}, note_hash);

  proto::AuditEntry entry =
      NewAuditEntry(log, proto::AUDIT_EVENT_RETENTION, "maintenance",
                    log == kSystemLogNumber ? std::string(kSystemAuditLog)
                                            : absl::StrCat("tenant/", log));
  auto& details = *entry.mutable_details();
  details["first_retained"] = absl::StrCat(boundary);
  details["frontier"] = HexList(kept.hashes());
  details["anchored_size"] = absl::StrCat(anchored);
  details["anchored_checkpoint_sha256"] =
      absl::BytesToHexString(absl::string_view(
          reinterpret_cast<const char*>(note_hash), kSha256Bytes));
  details["last_pruned_entry"] = absl::Base64Escape(ToAbsl(last_bytes));
  details["last_pruned_proof"] = HexList(last_proof);
  details["retention_seconds"] =
      absl::StrCat(absl::ToInt64Seconds(config_.retention));
  entry.set_count(boundary - old_first);

  rocksdb::WriteBatch batch;
  auto remove = [&](const std::string& from, const std::string& to) {
    return FromRocks(batch.DeleteRange(cf_, from, to), "pruning the audit log");
  };
  LEYSER_RETURN_IF_ERROR(
      remove(AuditEntryKey(log, 0), AuditEntryKey(log, boundary)));
  LEYSER_RETURN_IF_ERROR(
      remove(CheckpointKey(log, 0), CheckpointKey(log, boundary)));
  // The hashes standing for the pruned entries [0, M): the perfect subtrees
  // of M's binary decomposition, kept on their own (earlier ones replaced).
  LEYSER_RETURN_IF_ERROR(
      remove(AuditLogKey(log, 'n'), AuditLogKey(log, 'n' + 1)));
  {
    std::uint64_t start = 0;
    std::size_t i = 0;
    for (int level = 63; level >= 0; --level) {
      if ((boundary >> level & 1) == 0) continue;
      const merkle::Hash& h = kept.hashes()[i++];
      LEYSER_RETURN_IF_ERROR(FromRocks(
          batch.Put(cf_, AuditNodeKey(log, level, start >> level),
                    rocksdb::Slice(reinterpret_cast<const char*>(h.data()),
                                   h.size())),
          "pruning the audit log"));
      start += std::uint64_t{1} << level;
    }
  }
  Staged st{state->size, state->frontier, state->meta,
            state->first_uncovered_micros, false};
  st.meta.set_first_retained(boundary);
  LEYSER_RETURN_IF_ERROR(FromRocks(
      batch.Put(cf_, MetaKey(log), st.meta.SerializeAsString()), "pruning"));
  StageEntry(log, entry, absl::ToUnixMicros(now), st, &batch);
  // Signed at once: no later clock step can date the checkpoint covering the
  // RETENTION entry before the entry itself.
  LEYSER_RETURN_IF_ERROR(StageCheckpoint(log, now, st, &batch));
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->Write(SyncWrite(), &batch), "pruning the audit log"));
  state->size = st.size;
  state->frontier = std::move(st.frontier);
  state->meta = std::move(st.meta);
  state->first_uncovered_micros = st.first_uncovered_micros;
  *pruned = boundary - old_first;
  Schedule(log);
  return absl::OkStatus();
}

absl::Status AuditLogs::CompactPruned() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(options, cf_, nullptr, nullptr),
                   "compacting the audit log");
}

absl::Status AuditLogs::RotateSigner(
    std::shared_ptr<const CheckpointSigner> next) {
  // One checkpoint of the system log signed by both keys vouches for the
  // new key.
  std::shared_ptr<const CheckpointSigner> previous;
  {
    absl::MutexLock lock(&signer_mu_);
    previous = signer_;
  }
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state,
                          State(kSystemLogNumber));
  std::optional<AuditCheckpoint> rotation_note;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(kSystemLogNumber, *state));
    Staged st{state->size, state->frontier, state->meta,
              state->first_uncovered_micros, false};
    const std::int64_t micros =
        std::max(absl::ToUnixMicros(config_.clock->Now()),
                 st.meta.checkpoint_time_micros() + 1);
    const std::string body =
        CheckpointBody(Origin(kSystemLogNumber), st.size, st.frontier.Root(),
                       FromMicros(micros));
    LEYSER_ASSIGN_OR_RETURN(std::string note,
                            SignCheckpoint(body, {previous, next}));
    // If this size was checkpointed (and maybe anchored) already, the sink
    // would not be offered the new note: offer it here.
    if (config_.sink != nullptr && st.size == st.meta.checkpoint_size() &&
        st.size > 0) {
      LEYSER_ASSIGN_OR_RETURN(AuditCheckpoint cp, ParseAuditCheckpoint(note));
      rotation_note = std::move(cp);
    }
    rocksdb::WriteBatch batch;
    batch.Put(cf_, CheckpointKey(kSystemLogNumber, st.size), note)
        .PermitUncheckedError();
    st.meta.set_checkpoint_size(st.size);
    st.meta.set_checkpoint_time_micros(micros);
    batch.Put(cf_, MetaKey(kSystemLogNumber), st.meta.SerializeAsString())
        .PermitUncheckedError();
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->Write(SyncWrite(), &batch), "checkpointing"));
    state->meta = st.meta;
    state->first_uncovered_micros = INT64_MAX;
  }
  {
    absl::MutexLock lock(&signer_mu_);
    signer_ = std::move(next);
  }
  PublishPending(kSystemLogNumber).IgnoreError();
  if (rotation_note.has_value()) {
    std::lock_guard<std::mutex> publishing(publish_mu_);
    config_.sink->Publish(*rotation_note).IgnoreError();  // Best effort.
  }
  return absl::OkStatus();
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
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
  std::uint64_t size = 0;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
    if (state->size > state->meta.checkpoint_size() || state->size == 0) {
      Staged st{state->size, state->frontier, state->meta,
                state->first_uncovered_micros, false};
      rocksdb::WriteBatch batch;
      LEYSER_RETURN_IF_ERROR(
          StageCheckpoint(log, config_.clock->Now(), st, &batch));
      LEYSER_RETURN_IF_ERROR(
          FromRocks(db_->Write(SyncWrite(), &batch), "checkpointing"));
      state->meta = st.meta;
      state->first_uncovered_micros = INT64_MAX;
    }
    size = state->meta.checkpoint_size();
  }
  PublishPending(log).IgnoreError();
  std::string note;
  LEYSER_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), cf_, CheckpointKey(log, size), &note),
      "reading a checkpoint"));
  return note;
}

}  // namespace leyser::internal
