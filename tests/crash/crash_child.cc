// Helper process for crash tests. Prints acknowledgements on stdout, one per
// line, strictly after the acknowledged operation returned OK, so a parent that
// kills it knows what must survive.
//
//   crash_child rotate DIR OLD_KEY NEW_KEY CRASH_POINT
//       Opens the store with OLD_KEY, arms CRASH_POINT, rotates to NEW_KEY;
//       prints "ROTATED" if the rotation returns.
//   crash_child rotate-with-backups DIR OLD_KEY NEW_KEY BACKUP_DIR CRASH_POINT
//       The same with backups in BACKUP_DIR (their generations re-sealed).
//   crash_child datakeys DIR KEY CRASH_POINT
//       Opens the store, arms CRASH_POINT, rotates every tenant's data key
//       ("ROTATED") and re-seals ("DONE").
//   crash_child backup DIR KEY BACKUP_DIR CRASH_POINT
//       Opens the store (backups in BACKUP_DIR), arms CRASH_POINT, takes a
//       backup; prints "DONE" if it returns. CRASH_POINT "none" arms nothing.
//   crash_child maintain DIR KEY BACKUP_DIR UNIX_SECONDS CRASH_POINT
//       Opens the store (backups in BACKUP_DIR) with a manual clock at
//       UNIX_SECONDS, arms CRASH_POINT and runs maintenance; prints "DONE" if
//       it returns.
//   crash_child rotate-loop DIR KEY_A KEY_B
//       Opens with KEY_A; a writer thread puts "k<i>" into tenant "w" (synced),
//       printing "W <i>"; the main thread rotates A->B->A... printing "R <n>"
//       after rotation n. Runs until killed.
//   crash_child audit DIR KEY START
//       Opens the store; tenant "a" has write auditing on, tenant "b" exists.
//       For i = START, START+1, ...: i % 4 in {0, 1}: puts "k<i>" into "a"
//       ("P <i>"); 2: toggles the legal hold of "b" ("H <i> <0|1>"); 3:
//       creates tenant "c<i>" ("C <i>"). Prints "READY" first; runs until
//       killed.
//   crash_child memlock DIR KEY LIMIT_BYTES
//       Before any secret exists: drops CAP_IPC_LOCK and sets RLIMIT_MEMLOCK
//       (soft and hard) to LIMIT_BYTES; prints "UNLOCKABLE" if a 128 KiB mlock
//       then fails (else "LOCKABLE" and exits). Opens (creating) the store in
//       DIR without, then with Options::allow_unlocked_secret_memory, printing
//       "OPENED" or "REFUSED <code> <message>" for each; after the second, the
//       system audit log's events, "EVENT <name> <outcome>
//       <detail>=<value>...".
//   crash_child create DIR KEY CRASH_POINT
//       Arms CRASH_POINT ("none" arms nothing) and opens a new store in DIR
//       with create_if_missing; prints "CREATED" if the open returns, then
//       closes the store.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "leyser/leyser.h"

#include "lib/util/crash_point.h"

namespace {

std::mutex out_mu;

void Ack(const std::string& line) {
  std::lock_guard<std::mutex> lock(out_mu);
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

[[noreturn]] void Die(const absl::Status& s) {
  std::fprintf(stderr, "crash_child: %s\n", s.ToString().c_str());
  std::exit(3);
}

std::shared_ptr<leyser::KeyProvider> Provider(const char* path) {
  auto p = leyser::NewFileKeyProvider(path);
  if (!p.ok()) Die(p.status());
  return *p;
}

std::unique_ptr<leyser::Store> OpenStore(
    const char* dir, std::shared_ptr<leyser::KeyProvider> key) {
  leyser::Options options;
  options.data_dir = dir;
  options.key_provider = std::move(key);
  options.create_if_missing = true;
  auto store = leyser::Store::Open(options);
  if (!store.ok()) Die(store.status());
  return std::move(store).value();
}

// Drops CAP_IPC_LOCK, which lets root lock memory past any limit.
void DropIpcLock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2] = {};
  if (syscall(SYS_capget, &header, caps) != 0) return;
  const unsigned bit = 1u << (CAP_IPC_LOCK % 32);
  caps[CAP_IPC_LOCK / 32].effective &= ~bit;
  caps[CAP_IPC_LOCK / 32].permitted &= ~bit;
  caps[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  syscall(SYS_capset, &header, caps);
}

// Lowers the locked-memory limit to `limit` bytes for good. Prints
// "UNLOCKABLE" and returns true if locking 128 KiB (page-aligned, above every
// limit the tests set) now fails, as it must for the test to mean anything;
// else prints "LOCKABLE".
bool LimitLockedMemory(rlim_t limit) {
  const rlimit rl{limit, limit};
  alignas(4096) static char probe[128 * 1024];
  if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 || mlock(probe, sizeof(probe)) == 0) {
    munlock(probe, sizeof(probe));
    Ack("LOCKABLE");
    return false;
  }
  Ack("UNLOCKABLE");
  return true;
}

// Opens the store; prints "OPENED" or "REFUSED <code> <message>".
std::unique_ptr<leyser::Store> OpenOrSay(const leyser::Options& options) {
  auto store = leyser::Store::Open(options);
  if (!store.ok()) {
    Ack(absl::StrCat("REFUSED ",
                     absl::StatusCodeToString(store.status().code()), " ",
                     store.status().message()));
    return nullptr;
  }
  Ack("OPENED");
  return std::move(store).value();
}

// Prints the system audit log's entries and closes the store.
void PrintSystemLogAndClose(leyser::Store& store) {
  auto entries =
      store.ReadAuditLog(leyser::kSystemAuditLog, 0, /*max_entries=*/100);
  if (!entries.ok()) Die(entries.status());
  for (const leyser::AuditEntry& e : *entries) {
    std::string line =
        absl::StrCat("EVENT ", std::string(leyser::AuditEventName(e.event)),
                     " ", static_cast<int>(e.outcome));
    for (const auto& [name, value] : e.details) {
      absl::StrAppend(&line, " ", name, "=", value);
    }
    Ack(line);
  }
  if (absl::Status s = store.Close(); !s.ok()) Die(s);
}

int MemlockMode(const char* dir, const char* key_file, const char* limit) {
  DropIpcLock();
  if (!LimitLockedMemory(std::strtoull(limit, nullptr, 10))) return 0;
  leyser::Options options;
  options.data_dir = dir;
  options.key_provider = Provider(key_file);
  options.create_if_missing = true;
  options.allow_unlocked_secret_memory = false;
  if (auto store = OpenOrSay(options)) PrintSystemLogAndClose(*store);
  options.allow_unlocked_secret_memory = true;
  if (auto store = OpenOrSay(options)) PrintSystemLogAndClose(*store);
  return 0;
}

int MemlockLaterMode(const char* dir, const char* key_file) {
  DropIpcLock();
  leyser::Options options;
  options.data_dir = dir;
  options.key_provider = Provider(key_file);
  options.create_if_missing = true;
  auto store = OpenOrSay(options);
  if (store == nullptr || !LimitLockedMemory(0)) return 0;
  // More keys than the pool's first slab holds, as a growing tenant cache
  // would take.
  std::vector<leyser::SecretBytes> keys;
  for (int i = 0; i < 1100; ++i) {
    auto key = leyser::SecretBytes::Allocate(32);
    if (!key.ok()) Die(key.status());
    keys.push_back(*std::move(key));
  }
  auto report = store->RunMaintenance();
  if (!report.ok()) Die(report.status());
  Ack("MAINTAINED");
  PrintSystemLogAndClose(*store);
  store.reset();
  if (auto again = OpenOrSay(options)) PrintSystemLogAndClose(*again);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string mode = argv[1];
  if (mode == "rotate" && argc == 6) {
    auto store = OpenStore(argv[2], Provider(argv[3]));
    leyser::internal::ArmCrashPointForTesting(argv[5]);
    absl::Status s = store->RotateMasterKey(Provider(argv[4]));
    if (!s.ok()) Die(s);
    Ack("ROTATED");
    return 0;
  }
  if (mode == "rotate-with-backups" && argc == 7) {
    leyser::Options options;
    options.data_dir = argv[2];
    options.key_provider = Provider(argv[3]);
    options.backup_dir = argv[5];
    auto store = leyser::Store::Open(options);
    if (!store.ok()) Die(store.status());
    leyser::internal::ArmCrashPointForTesting(argv[6]);
    absl::Status s = (*store)->RotateMasterKey(Provider(argv[4]));
    if (!s.ok()) Die(s);
    Ack("ROTATED");
    return 0;
  }
  if (mode == "datakeys" && argc == 5) {
    auto store = OpenStore(argv[2], Provider(argv[3]));
    leyser::internal::ArmCrashPointForTesting(argv[4]);
    if (absl::Status s = store->RotateDataKeys(); !s.ok()) Die(s);
    Ack("ROTATED");
    auto resealed = store->ResealRetiredKeys(nullptr);
    if (!resealed.ok()) Die(resealed.status());
    Ack("DONE");
    return 0;
  }
  if (mode == "backup" && argc == 6) {
    leyser::Options options;
    options.data_dir = argv[2];
    options.key_provider = Provider(argv[3]);
    options.backup_dir = argv[4];
    options.backup_generations = 2;
    auto store = leyser::Store::Open(options);
    if (!store.ok()) Die(store.status());
    if (std::string(argv[5]) != "none")
      leyser::internal::ArmCrashPointForTesting(argv[5]);
    Ack("READY");
    auto backup = (*store)->CreateBackup();
    if (!backup.ok()) Die(backup.status());
    Ack("DONE");
    return 0;
  }
  if (mode == "maintain" && argc == 7) {
    leyser::Options options;
    options.data_dir = argv[2];
    options.key_provider = Provider(argv[3]);
    options.backup_dir = argv[4];
    options.clock = std::make_shared<leyser::ManualClock>(
        absl::FromUnixSeconds(std::strtoll(argv[5], nullptr, 10)));
    auto store = leyser::Store::Open(options);
    if (!store.ok()) Die(store.status());
    leyser::internal::ArmCrashPointForTesting(argv[6]);
    auto report = (*store)->RunMaintenance();
    if (!report.ok()) Die(report.status());
    Ack("DONE");
    return 0;
  }
  if (mode == "create" && argc == 5) {
    if (std::string(argv[4]) != "none")
      leyser::internal::ArmCrashPointForTesting(argv[4]);
    auto store = OpenStore(argv[2], Provider(argv[3]));
    Ack("CREATED");
    if (absl::Status s = store->Close(); !s.ok()) Die(s);
    return 0;
  }
  if (mode == "rotate-loop" && argc == 5) {
    auto a = Provider(argv[3]);
    auto b = Provider(argv[4]);
    auto store = OpenStore(argv[2], a);
    if (auto info = store->GetTenantInfo("w");
        absl::IsNotFound(info.status())) {
      if (auto c = store->CreateTenant("w"); !c.ok()) Die(c.status());
    }
    auto tenant = store->OpenTenant("w");
    if (!tenant.ok()) Die(tenant.status());
    Ack("READY");
    std::thread writer([&] {
      for (int i = 0;; ++i) {
        absl::Status s =
            (*tenant)->Put(absl::StrCat("k", i), absl::StrCat("v", i));
        if (!s.ok()) Die(s);
        Ack(absl::StrCat("W ", i));
      }
    });
    for (int n = 1;; ++n) {
      absl::Status s = store->RotateMasterKey(n % 2 == 1 ? b : a);
      if (!s.ok()) Die(s);
      Ack(absl::StrCat("R ", n));
    }
  }
  if (mode == "audit" && argc == 5) {
    auto store = OpenStore(argv[2], Provider(argv[3]));
    for (const char* id : {"a", "b"}) {
      if (absl::IsNotFound(store->GetTenantInfo(id).status())) {
        if (auto c = store->CreateTenant(id); !c.ok()) Die(c.status());
      }
    }
    if (absl::Status s =
            store->SetAccessAudit("a", leyser::AccessAudit::kWrites);
        !s.ok()) {
      Die(s);
    }
    auto tenant = store->OpenTenant("a");
    if (!tenant.ok()) Die(tenant.status());
    Ack("READY");
    for (long i = std::strtol(argv[4], nullptr, 10);; ++i) {
      switch (i % 4) {
        case 0:
        case 1: {
          absl::Status s = (*tenant)->Put(absl::StrCat("k", i), "value");
          if (!s.ok()) Die(s);
          Ack(absl::StrCat("P ", i));
          break;
        }
        case 2: {
          auto info = store->GetTenantInfo("b");
          if (!info.ok()) Die(info.status());
          const bool hold = !info->legal_hold;
          if (absl::Status s = store->SetLegalHold("b", hold); !s.ok()) Die(s);
          Ack(absl::StrCat("H ", i, " ", hold ? 1 : 0));
          break;
        }
        default: {
          auto c = store->CreateTenant(absl::StrCat("c", i));
          if (!c.ok()) Die(c.status());
          Ack(absl::StrCat("C ", i));
        }
      }
    }
  }
  if (mode == "memlock" && argc == 5) {
    return MemlockMode(argv[2], argv[3], argv[4]);
  }
  if (mode == "memlock-later" && argc == 4) {
    return MemlockLaterMode(argv[2], argv[3]);
  }
  std::fprintf(stderr, "crash_child: bad arguments\n");
  return 2;
}
