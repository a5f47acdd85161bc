// RFC 6962 / RFC 9162 Merkle tree hashing, compact ranges and proofs.

#include "lib/audit/merkle.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "lib/crypto/sodium.h"
#include "lib/util/status_macros.h"

namespace leyser::internal::merkle {
namespace {

static_assert(sizeof(Hash) == kSha256Bytes);

std::string_view View(const Hash& hash) {
  return std::string_view(reinterpret_cast<const char*>(hash.data()),
                          hash.size());
}

// floor(log2(x)). REQUIRES: x > 0.
int FloorLog2(std::uint64_t x) { return 63 - __builtin_clzll(x); }

// The number of trailing zero bits of `x`; 64 for 0.
int TrailingZeros(std::uint64_t x) { return x == 0 ? 64 : __builtin_ctzll(x); }

std::size_t PopCount(std::uint64_t x) {
  return static_cast<std::size_t>(__builtin_popcountll(x));
}

// The largest power of two below `n`, where RFC 6962 splits a tree of n
// leaves. REQUIRES: n >= 2.
std::uint64_t SplitPoint(std::uint64_t n) {
  return std::uint64_t{1} << FloorLog2(n - 1);
}

// The level of the largest aligned perfect subtree that starts at `pos` and
// ends at or before `end`. REQUIRES: pos < end.
int CoverLevel(std::uint64_t pos, std::uint64_t end) {
  return std::min(FloorLog2(end - pos), TrailingZeros(pos));
}

// Appends to `out` the hashes of the perfect subtrees covering [begin, end),
// left to right, each chosen by CoverLevel. REQUIRES: begin <= end.
absl::Status ReadCover(std::uint64_t begin, std::uint64_t end,
                       const NodeReader& read, std::vector<Hash>* out) {
  if (!read) {
    return absl::InvalidArgumentError("merkle: no node reader");
  }
  while (begin < end) {
    const int level = CoverLevel(begin, end);
    LEYSER_ASSIGN_OR_RETURN(Hash hash, read(level, begin >> level));
    out->push_back(hash);
    begin += std::uint64_t{1} << level;
  }
  return absl::OkStatus();
}

// Folds `hashes` right to left with NodeHash. REQUIRES: !hashes.empty().
Hash FoldRight(const std::vector<Hash>& hashes) {
  Hash acc = hashes.back();
  for (auto it = hashes.rbegin() + 1; it != hashes.rend(); ++it) {
    acc = NodeHash(*it, acc);
  }
  return acc;
}

// MTH(D[begin:end]) of a range already known to be a tree node.
absl::StatusOr<Hash> NodeRoot(std::uint64_t begin, std::uint64_t end,
                              const NodeReader& read) {
  std::vector<Hash> cover;
  LEYSER_RETURN_IF_ERROR(ReadCover(begin, end, read, &cover));
  return FoldRight(cover);
}

// Right-shifts `fn` and `sn` together until fn's low bit is set or fn is 0
// (RFC 9162 sections 2.1.3.2 and 2.1.4.2).
void ShiftToSetBit(std::uint64_t* fn, std::uint64_t* sn) {
  while ((*fn & 1) == 0 && *fn != 0) {
    *fn >>= 1;
    *sn >>= 1;
  }
}

}  // namespace

Hash LeafHash(std::string_view data) {
  Hash out;
  Sha256({std::string_view("\x00", 1), data}, out.data());
  return out;
}

Hash NodeHash(const Hash& left, const Hash& right) {
  Hash out;
  Sha256({std::string_view("\x01", 1), View(left), View(right)}, out.data());
  return out;
}

Hash EmptyRoot() {
  Hash out;
  Sha256({}, out.data());
  return out;
}

absl::StatusOr<CompactRange> CompactRange::FromHashes(
    std::uint64_t size, std::vector<Hash> hashes) {
  if (size > kMaxTreeSize) {
    return absl::InvalidArgumentError("merkle: tree size above 2^63");
  }
  if (hashes.size() != PopCount(size)) {
    return absl::InvalidArgumentError(
        "merkle: compact range needs popcount(size) hashes");
  }
  return CompactRange(size, std::move(hashes));
}

void CompactRange::Append(const Hash& leaf, const NodeVisitor& on_node) {
  if (size_ == kMaxTreeSize) return;
  if (on_node) on_node(0, size_, leaf);
  Push(0, leaf, on_node);
}

absl::Status CompactRange::AppendSubtree(int level, const Hash& hash,
                                         const NodeVisitor& on_node) {
  if (level < 0 || level > 63) {
    return absl::InvalidArgumentError("merkle: subtree level outside [0, 63]");
  }
  const std::uint64_t width = std::uint64_t{1} << level;
  if ((size_ & (width - 1)) != 0) {
    return absl::InvalidArgumentError(
        "merkle: subtree not aligned to range end");
  }
  if (width > kMaxTreeSize - size_) {
    return absl::OutOfRangeError("merkle: tree size would exceed 2^63");
  }
  Push(level, hash, on_node);
  return absl::OkStatus();
}

void CompactRange::Push(int level, const Hash& hash,
                        const NodeVisitor& on_node) {
  hashes_.push_back(hash);
  size_ += std::uint64_t{1} << level;
  // A clear bit `l` in the new size means two level-l subtrees merged. The
  // size has a set bit at or above `level`, so the loop ends by level 63.
  for (int l = level; ((size_ >> l) & 1) == 0; ++l) {
    const Hash parent = NodeHash(hashes_[hashes_.size() - 2], hashes_.back());
    hashes_.pop_back();
    hashes_.back() = parent;
    if (on_node) on_node(l + 1, (size_ >> (l + 1)) - 1, parent);
  }
}

Hash CompactRange::Root() const {
  return hashes_.empty() ? EmptyRoot() : FoldRight(hashes_);
}

absl::StatusOr<Hash> SubtreeRoot(std::uint64_t begin, std::uint64_t end,
                                 const NodeReader& read) {
  if (begin >= end || end > kMaxTreeSize) {
    return absl::InvalidArgumentError(
        "merkle: subtree range empty or too large");
  }
  const std::uint64_t count = end - begin;
  const int ceil_log2 = count == 1 ? 0 : FloorLog2(count - 1) + 1;
  if (TrailingZeros(begin) < ceil_log2) {
    return absl::InvalidArgumentError(
        "merkle: range is not a node of any tree");
  }
  return NodeRoot(begin, end, read);
}

absl::StatusOr<CompactRange> ReadCompactRange(std::uint64_t size,
                                              const NodeReader& read) {
  if (size > kMaxTreeSize) {
    return absl::InvalidArgumentError("merkle: tree size above 2^63");
  }
  std::vector<Hash> hashes;
  LEYSER_RETURN_IF_ERROR(ReadCover(0, size, read, &hashes));
  return CompactRange::FromHashes(size, std::move(hashes));
}

absl::StatusOr<std::vector<Hash>> InclusionProof(std::uint64_t index,
                                                 std::uint64_t size,
                                                 const NodeReader& read) {
  if (index >= size || size > kMaxTreeSize) {
    return absl::InvalidArgumentError("merkle: need index < size <= 2^63");
  }
  // Walk down from the root; the sibling of each node on the path joins the
  // proof, which lists them from the leaf up.
  std::vector<Hash> proof;
  std::uint64_t begin = 0, end = size;
  while (end - begin > 1) {
    const std::uint64_t mid = begin + SplitPoint(end - begin);
    const bool left = index < mid;
    LEYSER_ASSIGN_OR_RETURN(Hash sibling, left ? NodeRoot(mid, end, read)
                                               : NodeRoot(begin, mid, read));
    proof.push_back(sibling);
    (left ? end : begin) = mid;
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

bool VerifyInclusion(std::uint64_t index, std::uint64_t size,
                     const Hash& leaf_hash, const std::vector<Hash>& proof,
                     const Hash& root) {
  // A verifier with no earlier walk walks the whole path.
  return InclusionVerifier(size, root).Verify(index, leaf_hash, proof);
}

bool InclusionVerifier::Verify(std::uint64_t index, const Hash& leaf_hash,
                               const std::vector<Hash>& proof) {
  if (index >= size_ || size_ > kMaxTreeSize || proof.size() > 64) {
    return false;
  }
  std::vector<Step> steps;
  steps.reserve(proof.size());
  std::uint64_t fn = index, sn = size_ - 1;
  Hash r = leaf_hash;
  bool ok = false;
  bool joined = false;
  for (std::size_t s = 0; s < proof.size(); ++s) {
    const Hash& p = proof[s];
    if (sn == 0) break;
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      ShiftToSetBit(&fn, &sn);
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
    steps.push_back({fn, sn, r});
    // The previous walk from this very state, with the same hashes left,
    // reached the root.
    if (s < steps_.size() && proof.size() == proof_.size() &&
        steps_[s].fn == fn && steps_[s].sn == sn && steps_[s].r == r &&
        std::equal(proof.begin() + s + 1, proof.end(),
                   proof_.begin() + s + 1)) {
      ok = true;
      joined = true;
      break;
    }
  }
  if (!joined) ok = sn == 0 && r == root_ && steps.size() == proof.size();
  if (ok) {
    if (joined) {
      // The rest of the walk is the previous one's.
      steps.insert(steps.end(), steps_.begin() + steps.size(), steps_.end());
    }
    steps_ = std::move(steps);
    proof_ = proof;
  }
  return ok;
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(std::uint64_t m,
                                                   std::uint64_t n,
                                                   const NodeReader& read) {
  if (m == 0 || m > n || n > kMaxTreeSize) {
    return absl::InvalidArgumentError("merkle: need 0 < m <= n <= 2^63");
  }
  // Walk down from the root of tree n towards the node ending at m; siblings
  // join the proof, deepest first. Invariant: begin < m <= end.
  std::vector<Hash> siblings;
  std::uint64_t begin = 0, end = n;
  bool whole = true;  // [0, end) is still the whole old tree (RFC's "b").
  while (m != end) {
    const std::uint64_t mid = begin + SplitPoint(end - begin);
    const bool left = m <= mid;
    LEYSER_ASSIGN_OR_RETURN(Hash sibling, left ? NodeRoot(mid, end, read)
                                               : NodeRoot(begin, mid, read));
    siblings.push_back(sibling);
    (left ? end : begin) = mid;
    whole = whole && left;
  }
  std::vector<Hash> proof;
  if (!whole) {
    LEYSER_ASSIGN_OR_RETURN(Hash node, NodeRoot(begin, end, read));
    proof.push_back(node);
  }
  proof.insert(proof.end(), siblings.rbegin(), siblings.rend());
  return proof;
}

bool VerifyConsistency(std::uint64_t m, std::uint64_t n, const Hash& root_m,
                       const Hash& root_n, const std::vector<Hash>& proof) {
  if (m == 0 || m > n || n > kMaxTreeSize) return false;
  if (m == n) return proof.empty() && root_m == root_n;
  if (proof.empty() || proof.size() > 65) return false;
  // If m is a power of two, the old root is the implicit first proof hash.
  std::size_t i = 0;
  const Hash first = (m & (m - 1)) == 0 ? root_m : proof[i++];
  Hash fr = first, sr = first;
  std::uint64_t fn = m - 1, sn = n - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; i < proof.size(); ++i) {
    const Hash& c = proof[i];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      ShiftToSetBit(&fn, &sn);
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == root_m && sr == root_n;
}

absl::StatusOr<RangeProof> ProveRange(std::uint64_t begin, std::uint64_t end,
                                      std::uint64_t size,
                                      const NodeReader& read) {
  if (begin >= end || end > size || size > kMaxTreeSize) {
    return absl::InvalidArgumentError(
        "merkle: need begin < end <= size <= 2^63");
  }
  RangeProof proof;
  LEYSER_RETURN_IF_ERROR(ReadCover(0, begin, read, &proof.left));
  LEYSER_RETURN_IF_ERROR(ReadCover(end, size, read, &proof.right));
  return proof;
}

absl::StatusOr<Hash> RootFromRange(std::uint64_t begin,
                                   const std::vector<Hash>& leaves,
                                   std::uint64_t size,
                                   const RangeProof& proof) {
  if (size > kMaxTreeSize || begin >= size || leaves.empty() ||
      leaves.size() > size - begin) {
    return absl::InvalidArgumentError(
        "merkle: leaves must be a range in [0, size)");
  }
  LEYSER_ASSIGN_OR_RETURN(CompactRange range,
                          CompactRange::FromHashes(begin, proof.left));
  for (const Hash& leaf : leaves) range.Append(leaf);
  std::size_t next = 0;
  for (std::uint64_t pos = range.size(); pos < size;) {
    if (next == proof.right.size()) {
      return absl::InvalidArgumentError("merkle: range proof too short");
    }
    const int level = CoverLevel(pos, size);
    LEYSER_RETURN_IF_ERROR(range.AppendSubtree(level, proof.right[next++]));
    pos += std::uint64_t{1} << level;
  }
  if (next != proof.right.size()) {
    return absl::InvalidArgumentError("merkle: range proof too long");
  }
  return range.Root();
}

}  // namespace leyser::internal::merkle
