// leyser/write_batch.h: a group of writes applied atomically to one tenant.
//
// Collect puts and deletes, then hand the batch to `Tenant::Write`: either
// every operation is applied or none is. Operations apply in the order they
// were added, so a later put or delete of the same key wins. The batch is
// checked as a whole before anything is written.
//
// Thread safety: thread-compatible. Copyable.

#ifndef LEYSER_WRITE_BATCH_H_
#define LEYSER_WRITE_BATCH_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace leyser {

namespace internal {
class WriteBatchAccess;
}  // namespace internal

class WriteBatch {
 public:
  // Adds "set `key` to `value`".
  void Put(std::string_view key, std::string_view value);

  // Adds "remove `key`" (not an error if the key is absent when the batch is
  // written).
  void Delete(std::string_view key);

  // Removes every operation.
  void Clear();

  // Number of operations added.
  std::size_t Count() const { return ops_.size(); }

 private:
  friend class internal::WriteBatchAccess;

  struct Op {
    bool is_delete;
    std::string key;
    std::string value;
  };
  std::vector<Op> ops_;
};

}  // namespace leyser

#endif  // LEYSER_WRITE_BATCH_H_
