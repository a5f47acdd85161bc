// RFC 6962 / RFC 9162 Merkle tree hashing (C2SP merkle-tree.md): leaf and node
// hashes, compact ranges, subtree roots, and inclusion, consistency and range
// proofs over stored perfect subtree hashes.
//
// A perfect subtree (level k, index j) covers the leaves [j * 2^k,
// (j + 1) * 2^k); level 0 holds the leaf hashes. Tree sizes are limited to
// kMaxTreeSize = 2^63 leaves, so no position or size arithmetic overflows.

#ifndef LEYSER_LIB_AUDIT_MERKLE_H_
#define LEYSER_LIB_AUDIT_MERKLE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace leyser::internal::merkle {

// A SHA-256 digest.
using Hash = std::array<unsigned char, 32>;

// The largest supported tree size (inclusive): 2^63 leaves.
inline constexpr std::uint64_t kMaxTreeSize = std::uint64_t{1} << 63;

// Returns SHA-256(0x00 || data), the hash of a leaf.
Hash LeafHash(std::string_view data);

// Returns SHA-256(0x01 || left || right), the hash of an interior node.
Hash NodeHash(const Hash& left, const Hash& right);

// Returns SHA-256(""), the root of the empty tree.
Hash EmptyRoot();

// Receives a perfect subtree (level, index) and its hash.
using NodeVisitor =
    std::function<void(int level, std::uint64_t index, const Hash& hash)>;

// Reads the stored hash of perfect subtree (level, index). Implementations
// return an error (e.g. NotFound) if they cannot; it is passed to the caller.
// Functions below that need a read return InvalidArgument for an empty one.
using NodeReader =
    std::function<absl::StatusOr<Hash>(int level, std::uint64_t index)>;

// The compact range (frontier) of the leaves [0, size): the roots of the
// perfect subtrees of the binary decomposition of `size`, largest (leftmost)
// first, popcount(size) hashes.
class CompactRange {
 public:
  // The empty range, size 0.
  CompactRange() = default;

  // Returns the range of `size` leaves with subtree roots `hashes`.
  // InvalidArgument unless size <= kMaxTreeSize and hashes.size() ==
  // popcount(size).
  static absl::StatusOr<CompactRange> FromHashes(std::uint64_t size,
                                                 std::vector<Hash> hashes);

  // The number of leaves covered.
  std::uint64_t size() const { return size_; }

  // The subtree roots, largest first.
  const std::vector<Hash>& hashes() const { return hashes_; }

  // Appends leaf hash `leaf`. Calls `on_node` (if set) for every perfect
  // subtree this completes: the leaf itself first (level 0, index = old
  // size), then each merged parent, bottom up. A range of kMaxTreeSize leaves
  // is full: appending to it changes nothing and reports nothing (check
  // size() first where that can happen, e.g. after FromHashes).
  void Append(const Hash& leaf, const NodeVisitor& on_node = nullptr);

  // Appends the perfect subtree of 2^level leaves with root `hash`, merging
  // like Append; `on_node` sees the merged parents, not the subtree itself.
  // InvalidArgument unless 0 <= level <= 63 and size() is a multiple of
  // 2^level; OutOfRange if the size would exceed kMaxTreeSize.
  absl::Status AppendSubtree(int level, const Hash& hash,
                             const NodeVisitor& on_node = nullptr);

  // Returns the RFC 6962 tree head MTH(D[0:size]): EmptyRoot() for size 0,
  // else the subtree roots folded right to left with NodeHash.
  Hash Root() const;

 private:
  CompactRange(std::uint64_t size, std::vector<Hash> hashes)
      : size_(size), hashes_(std::move(hashes)) {}

  // Pushes the subtree (level, size_ >> level) and merges equal-sized
  // neighbours. REQUIRES: alignment and capacity checked.
  void Push(int level, const Hash& hash, const NodeVisitor& on_node);

  std::uint64_t size_ = 0;
  std::vector<Hash> hashes_;
};

// Returns MTH(D[begin:end]), read as the aligned perfect subtrees covering the
// range, folded right to left. The range must be a node of the RFC 6962 tree
// of some size: InvalidArgument unless begin < end <= kMaxTreeSize and
// `begin` is a multiple of the smallest power of two >= end - begin.
absl::StatusOr<Hash> SubtreeRoot(std::uint64_t begin, std::uint64_t end,
                                 const NodeReader& read);

// Returns the compact range of [0, size) read through `read`.
// InvalidArgument if size > kMaxTreeSize.
absl::StatusOr<CompactRange> ReadCompactRange(std::uint64_t size,
                                              const NodeReader& read);

// Returns the RFC 9162 section 2.1.3.1 inclusion proof of leaf `index` in the
// tree of `size` leaves (at most ceil(log2(size)) hashes, leaf side first).
// InvalidArgument unless index < size <= kMaxTreeSize.
absl::StatusOr<std::vector<Hash>> InclusionProof(std::uint64_t index,
                                                 std::uint64_t size,
                                                 const NodeReader& read);

// True if `proof` shows, per RFC 9162 section 2.1.3.2, that `leaf_hash` is
// leaf `index` of the tree of `size` leaves with root `root`. False on any
// mismatch or malformed input.
bool VerifyInclusion(std::uint64_t index, std::uint64_t size,
                     const Hash& leaf_hash, const std::vector<Hash>& proof,
                     const Hash& root);

// Checks the inclusion proofs of many leaves of one tree, each with the answer
// VerifyInclusion gives, but a leaf's walk stops where it reaches the state
// (position and hash) the previous leaf's walk had at the same step, with the
// same proof hashes left: the rest would repeat a walk that ended at the
// root. Leaves in order cost about two hashes each instead of log2(size).
class InclusionVerifier {
 public:
  InclusionVerifier(std::uint64_t size, const Hash& root)
      : size_(size), root_(root) {}
  bool Verify(std::uint64_t index, const Hash& leaf_hash,
              const std::vector<Hash>& proof);

 private:
  struct Step {
    std::uint64_t fn;
    std::uint64_t sn;
    Hash r;
  };
  const std::uint64_t size_;
  const Hash root_;
  // The previous leaf's walk, if it verified.
  std::vector<Step> steps_;
  std::vector<Hash> proof_;
};

// Returns the RFC 9162 section 2.1.4.1 consistency proof between the trees of
// `m` and `n` leaves (at most ceil(log2(n)) + 1 hashes; empty if m == n).
// InvalidArgument unless 0 < m <= n <= kMaxTreeSize.
absl::StatusOr<std::vector<Hash>> ConsistencyProof(std::uint64_t m,
                                                   std::uint64_t n,
                                                   const NodeReader& read);

// True if `proof` shows, per RFC 9162 section 2.1.4.2, that the tree of `m`
// leaves with root `root_m` is a prefix of the tree of `n` leaves with root
// `root_n`. For m == n the proof must be empty and the roots equal. False on
// any mismatch or malformed input, including m == 0 and m > n.
bool VerifyConsistency(std::uint64_t m, std::uint64_t n, const Hash& root_m,
                       const Hash& root_n, const std::vector<Hash>& proof);

// What a verifier needs besides the leaf hashes of [begin, end) to recompute
// the root of the tree of `size` leaves.
struct RangeProof {
  // The compact range of [0, begin): popcount(begin) hashes.
  std::vector<Hash> left;
  // The perfect subtrees covering [end, size), left to right, each the
  // largest aligned subtree that starts at the current position and fits.
  std::vector<Hash> right;
};

// Returns the range proof of the leaves [begin, end) in the tree of `size`
// leaves. InvalidArgument unless begin < end <= size <= kMaxTreeSize.
absl::StatusOr<RangeProof> ProveRange(std::uint64_t begin, std::uint64_t end,
                                      std::uint64_t size,
                                      const NodeReader& read);

// Returns the root of the tree of `size` leaves recomputed from `proof` and
// the leaf hashes `leaves` of [begin, begin + leaves.size()). InvalidArgument
// if the range is empty or exceeds `size`, size > kMaxTreeSize, or the proof
// has the wrong shape.
absl::StatusOr<Hash> RootFromRange(std::uint64_t begin,
                                   const std::vector<Hash>& leaves,
                                   std::uint64_t size, const RangeProof& proof);

}  // namespace leyser::internal::merkle

#endif  // LEYSER_LIB_AUDIT_MERKLE_H_
