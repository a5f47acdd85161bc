// The store's signing-key seed in the key store ("s/sign"): random, wrapped by
// the master key like every other key, replaced at each signing-key rotation.

#include <optional>
#include <string>

#include "rocksdb/db.h"

#include "lib/keys/key_records.h"
#include "lib/keys/key_store.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

absl::StatusOr<std::optional<TenantKey>> KeyStore::GetSigningSeed() const {
  absl::ReaderMutexLock lock(&mu_);
  std::string bytes;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), kSigningSeedEntry, &bytes);
  if (s.IsNotFound()) return std::nullopt;
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the signing key"));
  LEYSER_ASSIGN_OR_RETURN(TenantKey seed,
                          Unwrap(std::string(kSigningSeedEntry), bytes));
  return seed;
}

absl::Status KeyStore::SetSigningSeed(const SecretBytes& seed,
                                      std::uint32_t serial) {
  absl::ReaderMutexLock lock(&mu_);
  return FromRocks(db_->Put(SyncWrite(), kSigningSeedEntry,
                            Wrap(master_key_, master_generation_,
                                 kSigningSeedEntry, seed, serial)),
                   "storing the signing key");
}

}  // namespace leyser::internal
