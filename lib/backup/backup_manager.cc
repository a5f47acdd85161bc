#include "lib/backup/backup_manager.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"

#include "lib/backup/engine_session.h"
#include "lib/backup/generation_files.h"
#include "lib/db/filename.h"
#include "lib/rocks/status.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {

// Removes what interrupted runs left: temporary generation files, engine
// backups that never got a generation file (or whose file was removed first by
// an interrupted prune), partial files, and copies of damaged files set aside
// by a run that did not finish.
absl::Status Repair(EngineSession& session, const std::string& backup_dir,
                    const std::string& generations_dir,
                    MaintenanceReport* report) {
  rocksdb::BackupEngine& engine = session.engine();
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> partial,
                          RemovePartialFiles(generations_dir));
  for (const std::string& name : partial) {
    if (report != nullptr)
      report->repaired.push_back("removed partial " + name);
  }
  LEYSER_RETURN_IF_ERROR(RemoveAll(DamagedFilesDir(backup_dir)));
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                          ListedIds(generations_dir));
  // The engine backups the listed generations hold. A generation file that
  // cannot be read hides which backup it holds: then no unlisted backup is
  // removed (a damaged file never costs the backup behind it).
  absl::flat_hash_set<rocksdb::BackupID> listed_set;
  for (BackupId id : listed) {
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir, id);
    if (absl::IsNotFound(file.status())) continue;
    if (!file.ok()) {
      if (report != nullptr) {
        report->repaired.push_back(
            absl::StrCat("kept unlisted backups: generation ", id,
                         " cannot be read (", file.status().message(), ")"));
      }
      return absl::OkStatus();
    }
    listed_set.insert(EngineId(*file));
  }
  std::vector<rocksdb::BackupInfo> infos;
  engine.GetBackupInfo(&infos);
  std::vector<rocksdb::BackupID> unlisted;
  for (const rocksdb::BackupInfo& info : infos) {
    if (!listed_set.contains(info.backup_id))
      unlisted.push_back(info.backup_id);
  }
  std::vector<rocksdb::BackupID> corrupted;
  engine.GetCorruptedBackups(&corrupted);
  for (rocksdb::BackupID id : corrupted) {
    if (!listed_set.contains(id)) unlisted.push_back(id);
  }
  for (rocksdb::BackupID id : unlisted) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(engine.DeleteBackup(id), "removing an unlisted backup"));
    if (report != nullptr)
      report->repaired.push_back(absl::StrCat("removed unlisted backup ", id));
  }
  // The session keeps every file of a damaged generation.
  return FromRocks(engine.GarbageCollect(),
                   "removing files of interrupted backups");
}

// Listed generations (ascending) whose engine backup uses `file` (relative to
// the engine directory).
std::vector<BackupId> GenerationsUsing(const std::string& file,
                                       const std::string& engine_dir,
                                       const std::string& generations_dir,
                                       rocksdb::Env* env) {
  std::vector<BackupId> out;
  absl::StatusOr<std::vector<BackupId>> listed = ListedIds(generations_dir);
  if (!listed.ok()) return out;
  for (BackupId id : *listed) {
    absl::StatusOr<proto::GenerationFile> gen =
        ReadGeneration(generations_dir, id);
    if (!gen.ok()) continue;
    absl::StatusOr<std::vector<std::string>> files =
        EngineBackupFiles(engine_dir, env, EngineId(*gen));
    if (files.ok() &&
        std::find(files->begin(), files->end(), file) != files->end()) {
      out.push_back(id);
    }
  }
  return out;
}

std::string IdList(const std::vector<BackupId>& ids) {
  return ids.empty() ? std::string("none") : absl::StrJoin(ids, ", ");
}

}  // namespace

absl::Status BackupManager::BackupsOff() {
  return absl::FailedPreconditionError(
      "backups are off: set Options::backup_dir");
}

absl::Time LatestDueInstant(absl::Time now, absl::Duration time_of_day) {
  const absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
  absl::Time due = absl::FromCivil(today, absl::UTCTimeZone()) + time_of_day;
  if (due > now) due -= absl::Hours(24);
  return due;
}

BackupManager::BackupManager(const Options& options, std::shared_ptr<DbCore> db,
                             const KeyStore* keys)
    : backup_dir_(options.backup_dir),
      engine_dir_(BackupEngineDir(options.backup_dir)),
      generations_dir_(GenerationsDir(options.backup_dir)),
      generations_(options.backup_generations),
      time_of_day_(options.backup_time_of_day),
      db_(std::move(db)),
      keys_(keys) {}

absl::StatusOr<std::unique_ptr<EngineSession>> BackupManager::OpenSession()
    const {
  return EngineSession::Open(engine_dir_, DataEnv(*db_), generations_dir_);
}

absl::StatusOr<rocksdb::BackupID> BackupManager::TakeVerifiedBackup(
    std::unique_ptr<EngineSession>& session, MaintenanceReport* report) {
  // The database, flushed first so no tenant data sits only in a copied WAL.
  rocksdb::CreateBackupOptions create;
  create.flush_before_backup = true;
  // Files copied again, reported once the backup verifies.
  std::vector<BackupDamage> recopied;
  for (int round = 0;; ++round) {
    rocksdb::BackupID engine_id = 0;
    rocksdb::IOStatus s =
        session->engine().CreateNewBackup(create, db_->db, &engine_id);
    const bool created = s.ok();
    if (created) {
      CrashPoint("backup.after_engine");
      // Verified against its checksums before it is listed: this reads every
      // file it reuses from earlier backups too.
      s = session->engine().VerifyBackup(engine_id,
                                         /*verify_with_checksum=*/true);
      if (s.ok()) {
        if (report != nullptr) {
          for (BackupDamage& d : recopied) {
            report->backup_damage.push_back(std::move(d));
          }
        }
        return engine_id;
      }
      // Unlisted: the next repair removes it if this fails.
      session->engine().DeleteBackup(engine_id).PermitUncheckedError();
    }
    // A shared file the backup reused from earlier ones is damaged or
    // missing: the engine copies it again from the live database (which has
    // it: the new backup uses it) once the damaged copy is out of the way, and
    // an engine opened afresh forgets what it knew of it.
    const std::optional<std::string> file =
        s.IsCorruption() || s.IsNotFound() ? DamagedSharedFile(s.ToString())
                                           : std::nullopt;
    if (!file.has_value()) {
      if (!created) return FromRocks(s, "backing up the database");
      return absl::DataLossError(
          absl::StrCat("the new backup failed verification and was removed: ",
                       s.ToString()));
    }
    if (round == kMaxFreshCopies) {
      return absl::DataLossError(
          absl::StrCat("backup file ", *file, " in ", backup_dir_,
                       " was damaged again after ", round,
                       " fresh copies from the live database: check the backup "
                       "directory's disk (",
                       s.ToString(), ")"));
    }
    const std::vector<BackupId> users =
        GenerationsUsing(*file, engine_dir_, generations_dir_, DataEnv(*db_));
    session.reset();
    LEYSER_RETURN_IF_ERROR(SetAside(*file));
    BackupDamage damage;
    damage.generations = users;
    damage.problem = s.ToString();
    damage.repaired = true;
    recopied.push_back(std::move(damage));
    LEYSER_ASSIGN_OR_RETURN(session, OpenSession());
  }
}

absl::Status BackupManager::SetAside(const std::string& file) {
  const std::string from = absl::StrCat(engine_dir_, "/", file);
  if (!PathExists(from)) return absl::OkStatus();  // Missing: copied anew.
  const std::string dir = DamagedFilesDir(backup_dir_);
  LEYSER_RETURN_IF_ERROR(EnsureDir(dir));
  const std::string base = file.substr(file.rfind('/') + 1);
  const std::string to = absl::StrCat(dir, "/", base);
  LEYSER_RETURN_IF_ERROR(RemoveAll(to));
  return RenameDurably(from, to);
}

void BackupManager::ReportDamage(const EngineSession& session,
                                 const std::map<BackupId, std::string>& before,
                                 MaintenanceReport* report) const {
  if (report == nullptr) return;
  for (const auto& [id, problem] : before) {
    if (session.damaged().count(id) > 0) continue;
    BackupDamage damage;
    damage.generations = {id};
    damage.problem = problem;
    damage.repaired = true;  // A fresh copy of the file came back.
    report->backup_damage.push_back(std::move(damage));
  }
  for (const auto& [id, problem] : session.damaged()) {
    BackupDamage damage;
    damage.generations = {id};
    damage.problem = problem;
    report->backup_damage.push_back(std::move(damage));
  }
}

absl::StatusOr<BackupInfo> BackupManager::CreateBackup(
    absl::Time now, MaintenanceReport* report) {
  if (!enabled()) {
    return BackupsOff();
  }
  absl::MutexLock lock(&mu_);
  LEYSER_RETURN_IF_ERROR(CheckBound());
  LEYSER_RETURN_IF_ERROR(EnsureDir(backup_dir_));
  LEYSER_RETURN_IF_ERROR(EnsureDir(generations_dir_));
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<EngineSession> session,
                          OpenSession());
  const std::map<BackupId, std::string> damaged_before = session->damaged();
  LEYSER_RETURN_IF_ERROR(SettleRekeyedGenerations(report));
  LEYSER_RETURN_IF_ERROR(
      Repair(*session, backup_dir_, generations_dir_, report));
  repaired_ = true;

  // 1, 2. The database, backed up and verified.
  LEYSER_ASSIGN_OR_RETURN(const rocksdb::BackupID engine_id,
                          TakeVerifiedBackup(session, report));
  // 3. The manifest, read from the backup itself.
  proto::BackupGeneration generation;
  {
    LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<OpenedBackup> opened,
                            OpenedBackup::Open(session->engine(), engine_id));
    LEYSER_RETURN_IF_ERROR(
        BuildManifest(*opened, *db_->record_mac, &generation));
  }
  // 4. A generation id never handed out before, recorded before it is used.
  LEYSER_ASSIGN_OR_RETURN(const BackupId id, NextId(engine_id, report));
  // 5. The generation file, written atomically: from here on the generation is
  // listed. The key-store copy (taken after the database, so it holds the key
  // of every tenant in the backup) and its seal come from one state of the key
  // store.
  proto::GenerationFile file;
  file.set_format_version(kGenerationFormatVersion);
  file.set_id(id);
  file.set_engine_backup_id(static_cast<std::uint32_t>(engine_id));
  ToProtoTime(now, file.mutable_created());
  LEYSER_RETURN_IF_ERROR(keys_->SealWithCopy(
      [&](proto::KeyStoreCopy copy) -> absl::StatusOr<std::string> {
        *generation.mutable_key_store() = std::move(copy);
        return generation.SerializeAsString();
      },
      GenerationContext(file), &file));
  LEYSER_RETURN_IF_ERROR(WriteFileAtomically(
      GenerationFileName(generations_dir_, id), file.SerializeAsString()));
  CrashPoint("backup.after_generation");
  latest_created_ = latest_created_.has_value()
                        ? std::max(*latest_created_, now)
                        : std::optional<absl::Time>();
  BackupInfo info = InfoFromFile(file);
  AddManifest(generation, &info);
  LEYSER_RETURN_IF_ERROR(RemoveAll(DamagedFilesDir(backup_dir_)));
  // What a damaged generation lacked may have come back with the new backup:
  // an engine opened afresh tells.
  if (!session->damaged().empty()) {
    session.reset();
    LEYSER_ASSIGN_OR_RETURN(session, OpenSession());
  }
  ReportDamage(*session, damaged_before, report);

  // 6. Prune.
  LEYSER_RETURN_IF_ERROR(Prune(*session, report));
  return info;
}

absl::Status BackupManager::Prune(EngineSession& session,
                                  MaintenanceReport* report) {
  // Options::backup_generations undamaged generations are kept, and every
  // damaged one newer than the oldest of them (it stays listed and reported
  // until it is repaired or removed by hand); older ones go, oldest first.
  // The generation file goes first, so an interrupted prune leaves an
  // unlisted backup that the next run removes.
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                          ListedIds(generations_dir_));
  std::size_t whole = 0;
  std::size_t keep = 0;  // Listed generations kept, counted from the newest.
  while (keep < listed.size() && whole < generations_) {
    if (session.damaged().count(listed[listed.size() - 1 - keep]) == 0) ++whole;
    ++keep;
  }
  for (std::size_t i = 0; i + keep < listed.size(); ++i) {
    const BackupId victim = listed[i];
    LEYSER_ASSIGN_OR_RETURN(proto::GenerationFile victim_file,
                            ReadGeneration(generations_dir_, victim));
    LEYSER_RETURN_IF_ERROR(
        RemoveAll(GenerationFileName(generations_dir_, victim)));
    LEYSER_RETURN_IF_ERROR(
        SyncParentDir(GenerationFileName(generations_dir_, victim)));
    latest_created_.reset();  // Recomputed when next needed.
    CrashPoint("prune.after_unlist");
    session.Release(EngineId(victim_file));
    LEYSER_RETURN_IF_ERROR(
        FromRocks(session.engine().DeleteBackup(EngineId(victim_file)),
                  "pruning a backup"));
    if (report != nullptr) report->pruned.push_back(victim);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<BackupInfo>> BackupManager::List() const {
  if (!enabled()) {
    return BackupsOff();
  }
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  std::vector<BackupInfo> out;
  if (ids.empty()) return out;
  // What the engine knows without reading data: backups whose files are not
  // all there (or not of their size), or whose meta file cannot be read.
  absl::StatusOr<std::unique_ptr<rocksdb::BackupEngineReadOnly>> engine =
      OpenEngineReadOnly(engine_dir_, DataEnv(*db_));
  absl::flat_hash_set<rocksdb::BackupID> corrupt;
  if (engine.ok()) {
    std::vector<rocksdb::BackupID> ids_corrupt;
    (*engine)->GetCorruptedBackups(&ids_corrupt);
    corrupt.insert(ids_corrupt.begin(), ids_corrupt.end());
  }
  for (BackupId id : ids) {
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir_, id);
    if (absl::IsNotFound(file.status())) continue;  // Pruned meanwhile.
    if (!file.ok()) {
      BackupInfo info;
      info.id = id;
      info.damage = std::string(file.status().message());
      out.push_back(std::move(info));
      continue;
    }
    BackupInfo info = InfoFromFile(*file);
    // Sealed under an earlier master key (or damaged): listed without its
    // manifest.
    absl::StatusOr<proto::BackupGeneration> generation =
        OpenGeneration(*file, *keys_);
    if (generation.ok()) {
      AddManifest(*generation, &info);
    } else if (absl::IsDataLoss(generation.status())) {
      info.damage = std::string(generation.status().message());
    }
    if (!engine.ok()) {
      info.damage = std::string(engine.status().message());
    } else if (corrupt.contains(EngineId(*file))) {
      info.damage = (*engine)->VerifyBackup(EngineId(*file)).ToString();
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status BackupManager::CheckGeneration(
    BackupId id, const proto::GenerationFile& file,
    rocksdb::BackupEngineReadOnlyBase& engine) const {
  rocksdb::IOStatus s =
      engine.VerifyBackup(EngineId(file), /*verify_with_checksum=*/true);
  if (!s.ok()) {
    std::string users;
    if (const std::optional<std::string> damaged =
            DamagedSharedFile(s.ToString());
        damaged.has_value()) {
      users = absl::StrCat(
          "; generations ",
          IdList(GenerationsUsing(*damaged, engine_dir_, generations_dir_,
                                  DataEnv(*db_))),
          " use ", *damaged);
    }
    return absl::DataLossError(
        absl::StrCat("backup generation ", id,
                     " failed verification: ", s.ToString(), users));
  }
  LEYSER_ASSIGN_OR_RETURN(proto::BackupGeneration generation,
                          OpenGeneration(file, *keys_));
  // A restore needs every key of the copy: open them all.
  absl::Status keys =
      keys_->CheckCopy(generation.key_store(), file.master_generation());
  if (!keys.ok()) {
    return absl::DataLossError(absl::StrCat(
        "backup generation ", id, " cannot be restored: ", keys.message()));
  }
  return absl::OkStatus();
}

absl::Status BackupManager::Verify(BackupId id) const {
  if (!enabled()) {
    return BackupsOff();
  }
  LEYSER_ASSIGN_OR_RETURN(proto::GenerationFile file,
                          ReadGeneration(generations_dir_, id));
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngineReadOnly> engine,
                          OpenEngineReadOnly(engine_dir_, DataEnv(*db_)));
  return CheckGeneration(id, file, *engine);
}

absl::StatusOr<std::string> BackupManager::RemoveDamaged(BackupId id) {
  if (!enabled()) {
    return BackupsOff();
  }
  absl::MutexLock lock(&mu_);
  LEYSER_RETURN_IF_ERROR(CheckBound());
  absl::StatusOr<proto::GenerationFile> file =
      ReadGeneration(generations_dir_, id);
  if (absl::IsNotFound(file.status())) return file.status();
  std::string problem;
  std::unique_ptr<EngineSession> session;
  if (!file.ok()) {
    // Its header is damaged: it cannot say which engine backup it holds. It
    // is unlisted; its backup goes at the next repair with the other
    // unlisted ones.
    problem = std::string(file.status().message());
  } else {
    LEYSER_ASSIGN_OR_RETURN(session, OpenSession());
    const auto found = session->damaged().find(id);
    if (found != session->damaged().end()) {
      problem = found->second;
    } else {
      const absl::Status checked =
          CheckGeneration(id, *file, session->engine());
      if (checked.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "backup generation ", id,
            " verifies: only a damaged generation is removed by hand "
            "(Options::backup_generations prunes the others)"));
      }
      if (!absl::IsDataLoss(checked)) return checked;
      problem = std::string(checked.message());
    }
  }
  LEYSER_RETURN_IF_ERROR(RemoveAll(GenerationFileName(generations_dir_, id)));
  LEYSER_RETURN_IF_ERROR(
      SyncParentDir(GenerationFileName(generations_dir_, id)));
  latest_created_.reset();
  if (session != nullptr) {
    session->Release(EngineId(*file));
    LEYSER_RETURN_IF_ERROR(
        FromRocks(session->engine().DeleteBackup(EngineId(*file)),
                  "removing a damaged backup generation"));
  }
  return problem;
}

absl::StatusOr<BackupId> BackupManager::NewestId() const {
  if (!enabled()) return BackupId{0};
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  return ids.empty() ? BackupId{0} : ids.back();
}

absl::StatusOr<BackupId> BackupManager::NextId(std::uint64_t engine_id,
                                               MaintenanceReport* report) {
  proto::GenerationCounter counter;
  absl::StatusOr<std::string> bytes =
      ReadFileToString(GenerationCounterFileName(generations_dir_));
  if (bytes.ok() && !counter.ParseFromString(*bytes)) {
    counter.Clear();
    if (report != nullptr) {
      report->repaired.push_back(
          "the generation counter was damaged; rebuilt from the generations");
    }
  } else if (!bytes.ok() && !absl::IsNotFound(bytes.status())) {
    return bytes.status();
  }
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                          ListedIds(generations_dir_));
  std::uint64_t next = std::max<std::uint64_t>(
      {std::uint64_t{counter.last_id()} + 1,
       listed.empty() ? 1 : std::uint64_t{listed.back()} + 1, engine_id,
       id_floor_});
  if (next > UINT32_MAX) {
    return absl::ResourceExhaustedError("no backup generation ids are left");
  }
  counter.set_last_id(static_cast<std::uint32_t>(next));
  LEYSER_RETURN_IF_ERROR(
      WriteFileAtomically(GenerationCounterFileName(generations_dir_),
                          counter.SerializeAsString()));
  return static_cast<BackupId>(next);
}

absl::Status BackupManager::RunMaintenance(absl::Time now,
                                           MaintenanceReport* report_ptr) {
  MaintenanceReport& report = *report_ptr;
  report.backups_enabled = enabled();
  if (!enabled()) {
    return absl::OkStatus();
  }
  const absl::Time due = LatestDueInstant(now, time_of_day_);
  // Due unless a generation exists since the last due instant. A clock that
  // stepped back behind the newest generation finds one (created > now >= due),
  // so it never takes an early one.
  {
    // A directory that is not the store's: no backup, no repair; the report
    // says why (the lifecycle steps that need the backups wait too).
    absl::MutexLock lock(&mu_);
    if (absl::Status bound = CheckBound(); !bound.ok()) {
      report.backup_refused = std::string(bound.message());
      return absl::OkStatus();
    }
  }
  LEYSER_ASSIGN_OR_RETURN(absl::Time latest, LatestCreated(now));
  if (latest < due) {
    LEYSER_ASSIGN_OR_RETURN(report.backup, CreateBackup(now, &report));
    return absl::OkStatus();
  }
  // Nothing due: clean up what an earlier process left, once per process (a
  // backup repairs anyway); later calls cost no I/O.
  absl::MutexLock lock(&mu_);
  // Nothing of the store's to repair before its directory is bound (and an
  // unbound directory must stay empty to be taken).
  if (repaired_ || bound_id_.empty()) return absl::OkStatus();
  LEYSER_RETURN_IF_ERROR(EnsureDir(backup_dir_));
  LEYSER_RETURN_IF_ERROR(EnsureDir(generations_dir_));
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<EngineSession> session,
                          OpenSession());
  LEYSER_RETURN_IF_ERROR(SettleRekeyedGenerations(&report));
  LEYSER_RETURN_IF_ERROR(
      Repair(*session, backup_dir_, generations_dir_, &report));
  ReportDamage(*session, {}, &report);
  repaired_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> BackupManager::BackupDue(absl::Time now) {
  if (!enabled()) return false;
  LEYSER_ASSIGN_OR_RETURN(absl::Time latest, LatestCreated(now));
  return latest < LatestDueInstant(now, time_of_day_);
}

absl::StatusOr<absl::Time> BackupManager::LatestCreated(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (latest_created_.has_value()) return *latest_created_;
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  // Only authenticated creation times count: a generation whose clear fields
  // were changed (a date in the future) or that cannot be opened never makes
  // a due backup look taken. Version 1 files bind only their id: their time
  // counts only if it is not in the future.
  absl::Time latest = absl::InfinitePast();
  for (BackupId id : ids) {
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir_, id);
    if (!file.ok() || !OpenGeneration(*file, *keys_).ok()) continue;
    const absl::Time created = FromProtoTime(file->created());
    if (file->format_version() < 2 && created > now) continue;
    latest = std::max(latest, created);
  }
  latest_created_ = latest;
  return latest;
}

}  // namespace leyser::internal
