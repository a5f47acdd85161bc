// leyser/iterator.h: an ordered cursor over one tenant's keys.
//
// An iterator sees a consistent point-in-time view of its tenant, taken when it
// was created, and never yields a key of another tenant. Keys come in bytewise
// order. Values are decrypted when `value()` is first called at a position, so
// a scan that reads only keys pays no decryption.
//
// Typical use:
//
//   auto it = tenant->NewIterator();
//   for (it->SeekToFirst(); it->Valid(); it->Next()) {
//     Use(it->key(), it->value());
//   }
//   if (!it->status().ok()) { ... }
//
// Thread safety: not thread-safe; use one iterator from one thread at a time.
// Ownership: an iterator keeps the store's files open until it is destroyed;
// destroy it promptly.

#ifndef LEYSER_ITERATOR_H_
#define LEYSER_ITERATOR_H_

#include <string_view>

#include "absl/status/status.h"

namespace leyser {

class Iterator {
 public:
  virtual ~Iterator() = default;
  Iterator(const Iterator&) = delete;
  Iterator& operator=(const Iterator&) = delete;

  // True while the iterator is positioned at an entry. False at the end and
  // after any error.
  virtual bool Valid() const = 0;

  // Positions at the tenant's first key.
  virtual void SeekToFirst() = 0;

  // Positions at the first key at or after `target`.
  virtual void Seek(std::string_view target) = 0;

  // Moves to the next key. REQUIRES: Valid().
  virtual void Next() = 0;

  // The current user key. REQUIRES: Valid(). The view lives until the iterator
  // moves.
  virtual std::string_view key() const = 0;

  // The current value, decrypted and authenticated. REQUIRES: Valid(). The view
  // lives until the iterator moves. If the stored value fails authentication
  // the iterator stops: `value()` returns an empty view, `Valid()` becomes
  // false and `status()` is DataLoss.
  virtual std::string_view value() = 0;

  // OK unless an error occurred: DataLoss (a value or file failed its checks),
  // Unavailable (I/O).
  virtual absl::Status status() const = 0;

 protected:
  Iterator() = default;
};

}  // namespace leyser

#endif  // LEYSER_ITERATOR_H_
