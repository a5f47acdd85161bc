// The Tenant handle and its iterator.

#ifndef LEYSER_LIB_STORE_TENANT_IMPL_H_
#define LEYSER_LIB_STORE_TENANT_IMPL_H_

#include <memory>

#include "leyser/tenant.h"

#include "lib/store/tenant_core.h"

namespace leyser::internal {

// Returns a handle over `core` whose calls are audited as `actor`.
std::unique_ptr<Tenant> NewTenantHandle(std::shared_ptr<const TenantCore> core,
                                        std::string actor);

// Reads the operations of a public WriteBatch.
class WriteBatchAccess {
 public:
  struct OpView {
    bool is_delete;
    std::string_view key;
    std::string_view value;
  };
  static std::size_t Count(const WriteBatch& batch) {
    return batch.ops_.size();
  }
  static OpView Get(const WriteBatch& batch, std::size_t i) {
    const WriteBatch::Op& op = batch.ops_[i];
    return OpView{op.is_delete, op.key, op.value};
  }
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_TENANT_IMPL_H_
