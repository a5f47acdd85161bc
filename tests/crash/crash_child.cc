// Helper process for crash tests. Prints acknowledgements on stdout, one per
// line, strictly after the acknowledged operation returned OK, so a parent that
// kills it knows what must survive.
//
//   crash_child rotate DIR OLD_KEY NEW_KEY CRASH_POINT
//       Opens the store with OLD_KEY, arms CRASH_POINT, rotates to NEW_KEY;
//       prints "ROTATED" if the rotation returns.
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

#include "absl/strings/str_cat.h"

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
  std::fprintf(stderr, "crash_child: bad arguments\n");
  return 2;
}
