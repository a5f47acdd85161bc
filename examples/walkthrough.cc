// A walk through the leyser API on a local directory, printing each step.
//
//   leyser_walkthrough [DIR]     (default: ./leyser-demo)
//
// Creates DIR/master.key (if missing) and a store in DIR/store, then creates two tenants, writes,
// reads, batches and scans their data, shows that they cannot see each other, reopens the store,
// and shows that a wrong master key is refused. Running it again reuses the same store.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "leyser/leyser.h"

namespace {

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

template <typename T>
T Check(absl::StatusOr<T> s, const char* what) {
  Check(s.status(), what);
  return std::move(s).value();
}

std::unique_ptr<leyser::Tenant> Tenant(leyser::Store& store, const std::string& id) {
  auto info = store.GetTenantInfo(id);
  if (absl::IsNotFound(info.status())) {
    info = store.CreateTenant(id);
    Check(info.status(), "create tenant");
    std::printf("  created tenant %-8s number %llu, %s, created %s\n", id.c_str(),
                static_cast<unsigned long long>(info->number),
                std::string(leyser::TenantStateName(info->state)).c_str(),
                absl::FormatTime(info->created, absl::UTCTimeZone()).c_str());
  } else {
    Check(info.status(), "tenant info");
    std::printf("  tenant %-8s exists (number %llu)\n", id.c_str(),
                static_cast<unsigned long long>(info->number));
  }
  return Check(store.OpenTenant(id), "open tenant");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "./leyser-demo";
  std::filesystem::create_directories(dir);
  const std::string key_path = dir + "/master.key";

  std::printf("1. Master key\n");
  if (!std::filesystem::exists(key_path)) {
    Check(leyser::CreateKeyFile(key_path), "create key file");
    std::printf("  created %s (mode 0600, 32 random bytes as hex)\n", key_path.c_str());
  } else {
    std::printf("  using %s\n", key_path.c_str());
  }

  leyser::Options options;
  options.data_dir = dir + "/store";
  options.key_provider = Check(leyser::NewFileKeyProvider(key_path), "key provider");
  options.create_if_missing = true;

  std::printf("2. Open the store in %s\n", options.data_dir.c_str());
  auto store = Check(leyser::Store::Open(options), "open store");

  std::printf("3. Tenants\n");
  auto acme = Tenant(*store, "acme");
  auto acme2 = Tenant(*store, "acme2");

  std::printf("4. Writes (each value sealed with its tenant's own key)\n");
  Check(acme->Put("student/1001", "Aiko Tanaka, grade 4"), "put");
  Check(acme->Put("student/1002", "Ren Sato, grade 5"), "put");
  Check(acme2->Put("student/1001", "a different school's student"), "put");
  leyser::WriteBatch batch;
  batch.Put("class/4A", "teacher: Mori");
  batch.Put("class/5B", "teacher: Ito");
  batch.Delete("student/1002");
  Check(acme->Write(batch), "batch");
  std::printf("  acme: 2 puts, then a batch of 2 puts and 1 delete; acme2: 1 put\n");

  std::printf("5. Reads\n");
  std::printf("  acme  student/1001 -> %s\n", Check(acme->Get("student/1001"), "get").c_str());
  std::printf("  acme2 student/1001 -> %s\n", Check(acme2->Get("student/1001"), "get").c_str());
  std::printf("  acme  student/1002 -> %s\n", acme->Get("student/1002").status().ToString().c_str());

  std::printf("6. Scan of acme (ordered, never leaves the tenant)\n");
  auto it = acme->NewIterator();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::printf("  %s = %s\n", std::string(it->key()).c_str(), std::string(it->value()).c_str());
  }
  Check(it->status(), "scan");
  it.reset();

  std::printf("7. Bad input gets a clear error\n");
  std::printf("  CreateTenant(\"no spaces\") -> %s\n",
              store->CreateTenant("no spaces").status().ToString().c_str());
  std::printf("  OpenTenant(\"nobody\")      -> %s\n",
              store->OpenTenant("nobody").status().ToString().c_str());
  std::printf("  Put(\"\", ...)               -> %s\n", acme->Put("", "x").ToString().c_str());

  std::printf("8. Reopen: everything persists\n");
  acme.reset();
  acme2.reset();
  store.reset();
  store = Check(leyser::Store::Open(options), "reopen store");
  for (const leyser::TenantInfo& t : Check(store->ListTenants(), "list tenants")) {
    std::printf("  %-8s number %llu  %s\n", t.id.c_str(), static_cast<unsigned long long>(t.number),
                std::string(leyser::TenantStateName(t.state)).c_str());
  }
  acme = Check(store->OpenTenant("acme"), "open tenant");
  std::printf("  acme class/4A -> %s\n", Check(acme->Get("class/4A"), "get").c_str());
  acme.reset();
  store.reset();

  std::printf("9. A wrong master key is refused before anything on disk changes\n");
  const std::string wrong_path = dir + "/wrong.key";
  std::filesystem::remove(wrong_path);
  Check(leyser::CreateKeyFile(wrong_path), "create wrong key");
  options.key_provider = Check(leyser::NewFileKeyProvider(wrong_path), "key provider");
  std::printf("  Open -> %s\n", leyser::Store::Open(options).status().ToString().c_str());
  std::filesystem::remove(wrong_path);

  std::printf("Done. The store is in %s; run again to reuse it.\n", options.data_dir.c_str());
  return 0;
}
