// leyserctl end to end: the real binary, spawned, on a real store.

#include <sys/wait.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test/spawn.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

struct CtlResult {
  int exit_code;
  std::string out;
};

CtlResult Ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LEYSERCTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  test::Child child(argv);
  CtlResult run;
  std::string line;
  while (child.ReadLine(&line, absl::Seconds(60))) run.out += line + "\n";
  const int status = child.Wait();
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(LeyserctlTest, ManagesTenantsAndRotatesTheMasterKey) {
  test::TempDir tmp;
  const std::string key = tmp.Sub("k"), key2 = tmp.Sub("k2");
  const std::string store = "--data_dir=" + tmp.Sub("store");
  ASSERT_EQ(Ctl({"keygen", key}).exit_code, 0);
  ASSERT_EQ(Ctl({"keygen", key2}).exit_code, 0);
  EXPECT_EQ(Ctl({"keygen", key}).exit_code, 1);  // Never overwrites.

  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenants"}).exit_code, 1);  // No store yet.
  CtlResult created = Ctl({store, "--key_file=" + key, "--create", "create-tenant", "acme", "beta"});
  ASSERT_EQ(created.exit_code, 0);
  EXPECT_NE(created.out.find("acme"), std::string::npos);
  CtlResult list = Ctl({store, "--key_file=" + key, "tenants"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("acme"), std::string::npos);
  EXPECT_NE(list.out.find("beta"), std::string::npos);
  EXPECT_NE(list.out.find("ACTIVE"), std::string::npos);
  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenant", "acme"}).exit_code, 0);
  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenant", "nobody"}).exit_code, 1);
  EXPECT_EQ(Ctl({store, "--key_file=" + key, "create-tenant", "bad id"}).exit_code, 1);

  ASSERT_EQ(Ctl({store, "--key_file=" + key, "rotate-master-key", key2}).exit_code, 0);
  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenants"}).exit_code, 1);
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, "tenants"}).exit_code, 0);

  // Backups.
  const std::string backups = "--backup_dir=" + tmp.Sub("backups");
  CtlResult taken = Ctl({store, "--key_file=" + key2, backups, "backup"});
  ASSERT_EQ(taken.exit_code, 0);
  CtlResult listed = Ctl({store, "--key_file=" + key2, backups, "backups"});
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find("2 tenants"), std::string::npos) << listed.out;
  const std::string first_id(1, listed.out[listed.out.find_first_of("0123456789")]);
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, backups, "verify-backup", first_id}).exit_code, 0);
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, backups, "verify-backup", "999"}).exit_code, 1);
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, backups, "restore-tenant", "acme", first_id}).exit_code, 0);
  CtlResult maintenance = Ctl({store, "--key_file=" + key2, backups, "maintenance"});
  EXPECT_EQ(maintenance.exit_code, 0);
  EXPECT_NE(maintenance.out.find("maintenance at"), std::string::npos);
  const std::string restored = "--data_dir=" + tmp.Sub("restored");
  ASSERT_EQ(Ctl({restored, "--key_file=" + key2, backups, "restore-store", first_id}).exit_code, 0);
  CtlResult restored_list = Ctl({restored, "--key_file=" + key2, "tenants"});
  EXPECT_EQ(restored_list.exit_code, 0);
  EXPECT_NE(restored_list.out.find("beta"), std::string::npos);
  EXPECT_EQ(Ctl({restored, "--key_file=" + key2, backups, "restore-store", first_id}).exit_code, 1);

  EXPECT_EQ(Ctl({}).exit_code, 2);
  EXPECT_EQ(Ctl({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, "tenant"}).exit_code, 2);
}

}  // namespace
}  // namespace leyser
