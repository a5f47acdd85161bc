// The README's "Using it" example as a program, so the snippet keeps
// compiling and working (run by ctest on a scratch directory).
//
//   leyser_quickstart DIR

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "leyser/leyser.h"

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "quickstart: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: leyser_quickstart DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  if (absl::Status s = leyser::CreateKeyFile(dir + "/master.key"); !s.ok()) {
    return Fail(s);
  }

  leyser::Options options;
  options.data_dir = dir + "/store";
  options.key_provider =
      leyser::NewFileKeyProvider(dir + "/master.key").value();
  options.create_if_missing = true;
  options.audit_sink =
      leyser::NewFileAuditSink(dir + "/leyser-anchors.jsonl").value();
  auto store = leyser::Store::Open(options).value();

  store->CreateTenant("school-042").IgnoreError();
  if (absl::Status s =
          store->SetAccessAudit("school-042", leyser::AccessAudit::kWrites);
      !s.ok()) {
    return Fail(s);
  }
  auto tenant = store->OpenTenantAs("school-042", "teacher-mori").value();
  absl::Status s = tenant->Put("student/1001", "Aiko Tanaka");
  if (!s.ok()) return Fail(s);
  absl::StatusOr<std::string> v = tenant->Get("student/1001");
  if (!v.ok() || *v != "Aiko Tanaka") return Fail(v.status());

  leyser::WriteBatch batch;
  batch.Put("class/4A", "teacher: Mori");
  batch.Delete("student/1002");
  if (s = tenant->Write(batch); !s.ok()) return Fail(s);

  int keys = 0;
  auto it = tenant->NewIterator();
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++keys;
  if (!it->status().ok() || keys != 2) return Fail(it->status());

  if (s = store->EndContract("school-042", absl::Now() + absl::Hours(24));
      !s.ok()) {
    return Fail(s);
  }
  if (s = store->AnchorAuditLogs(); !s.ok()) return Fail(s);

  leyser::AuditVerifyOptions trusted;
  trusted.trusted_checkpoints =
      leyser::ReadAuditCheckpointFiles({dir + "/leyser-anchors.jsonl"})
          .value()
          .notes;
  auto verdict = store->VerifyAuditLog("school-042", trusted);
  if (!verdict.ok()) return Fail(verdict.status());
  std::string jsonl =
      store->ExportAuditLog("school-042", 0, UINT64_MAX).value();
  trusted.public_keys = {store->GetSigningPublicKey().value()};
  auto offline = leyser::VerifyAuditExport(jsonl, trusted);
  if (!offline.ok()) return Fail(offline.status());
  std::printf(
      "%d keys; audit log of %llu entries: %s in the store, %s offline\n", keys,
      static_cast<unsigned long long>(verdict->size),
      verdict->intact ? "intact" : verdict->problem.c_str(),
      offline->intact ? "intact" : offline->problem.c_str());
  return verdict->intact && offline->intact ? 0 : 1;
}
