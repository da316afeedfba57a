/**
 * RFC 9162 (Certificate Transparency 2.0) Merkle proof verifiers, in plain TypeScript.
 *
 * Pure functions with no Bun-only API, so the same file runs in the dashboard's browser bundle:
 * the SHA-256 function is injected (`Bun.CryptoHasher` on the server and in tests,
 * `@noble/hashes`' `sha256` in the browser).
 *
 * Hashing is RFC 6962 / RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 ‖ leaf), node hash =
 * SHA-256(0x01 ‖ left ‖ right). The verifiers follow transparency-dev/merkle's proof/verify.go
 * (the Go library Certificate Transparency and the Go checksum database verify with) step for
 * step: a proof is split into an "inner" part (the levels where the path to the leaf and the
 * path to the tree's last leaf differ) and a "border" part (left siblings along the right border
 * of the tree), and a proof of any other length is rejected before any hashing. That length
 * check is what makes truncated, padded or re-indexed proofs fail even when the hashes happen to
 * chain up.
 *
 * Indices and sizes are JavaScript numbers (non-negative safe integers: trees up to 2^53 leaves)
 * or bigints. The bit arithmetic runs on bigints because JavaScript's `>>`, `&` and `^` on
 * numbers truncate to 32 bits, which would silently break trees of 2^32 leaves or more.
 */

/** SHA-256 of `data` (32 bytes). */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/** Size of every hash in a proof, a root or a leaf hash. */
export const HASH_SIZE = 32;

/** RFC 6962 leaf hash: SHA-256(0x00 ‖ leaf). */
export function leafHash(sha: Sha256, leaf: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + leaf.length);
  buf[0] = 0x00;
  buf.set(leaf, 1);
  return sha(buf);
}

/** RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(sha: Sha256, left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + left.length + right.length);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 1 + left.length);
  return sha(buf);
}

/**
 * The root that `proof` yields for `leafHash` at `index` in a tree of `size` leaves
 * (RFC 9162 §2.1.3.2; transparency-dev RootFromInclusionProof). Throws when the arguments cannot
 * describe a valid proof (index ≥ size, a hash that is not 32 bytes, a proof of the wrong length).
 */
export function rootFromInclusionProof(
  sha: Sha256,
  index: number | bigint,
  size: number | bigint,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  const i = toU64(index, "index");
  const n = toU64(size, "size");
  if (i >= n) throw new Error(`index is beyond size: ${i} >= ${n}`);
  if (leafHash.length !== HASH_SIZE) throw new Error(`leaf hash has ${leafHash.length} bytes, want ${HASH_SIZE}`);
  checkHashes(proof);
  const { inner, border } = decompose(i, n);
  if (proof.length !== inner + border) throw new Error(`wrong proof size ${proof.length}, want ${inner + border}`);
  const res = chainInner(sha, leafHash, proof.slice(0, inner), i);
  return chainBorderRight(sha, res, proof.slice(inner));
}

/** True when `proof` proves that `leafHash` is leaf `index` of the `size`-leaf tree with `root`. */
export function verifyInclusion(
  sha: Sha256,
  index: number | bigint,
  size: number | bigint,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  let computed: Uint8Array;
  try {
    computed = rootFromInclusionProof(sha, index, size, leafHash, proof);
  } catch {
    return false;
  }
  return equal(computed, root);
}

/**
 * True when `proof` proves that the tree of `size2` leaves with root `root2` extends the tree of
 * `size1` leaves with root `root1` (RFC 9162 §2.1.4.2; transparency-dev VerifyConsistency).
 *
 * Equal sizes need an empty proof and equal roots. Every tree extends the empty one, so size1 = 0
 * needs only an empty proof, but unlike transparency-dev we also insist that root1 is then the
 * empty-tree hash: a checkpoint claiming size 0 with any other root is false. The Rust core's
 * verifier (ffi/src/mmr.rs) decides every case the same way.
 */
export function verifyConsistency(
  sha: Sha256,
  size1: number | bigint,
  size2: number | bigint,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  let s1: bigint, s2: bigint;
  try {
    s1 = toU64(size1, "size1");
    s2 = toU64(size2, "size2");
    checkHashes(proof);
  } catch {
    return false;
  }
  if (root1.length !== HASH_SIZE || root2.length !== HASH_SIZE) return false;
  if (s2 < s1) return false;
  if (s1 === 0n) {
    const empty = sha(new Uint8Array(0));
    return proof.length === 0 && equal(root1, empty) && (s2 > 0n || equal(root2, empty));
  }
  if (s1 === s2) return proof.length === 0 && equal(root1, root2);
  if (proof.length === 0) return false;

  // The proof is (optionally) the root of the largest perfect subtree that ends at leaf size1-1
  // — of 2^shift leaves — followed by the suffix of the inclusion proof of leaf size1-1 in the
  // size2 tree above that subtree.
  const { inner: fullInner, border } = decompose(s1 - 1n, s2);
  const shift = trailingZeros(s1);
  const inner = fullInner - shift; // shift < fullInner when size1 < size2
  // When size1 is exactly 2^shift the subtree is the whole old tree, so its root is root1 and
  // the proof does not repeat it.
  let seed: Uint8Array;
  let start: number;
  if (s1 === 1n << BigInt(shift)) {
    seed = root1;
    start = 0;
  } else {
    seed = proof[0]!;
    start = 1;
  }
  if (proof.length !== start + inner + border) return false;
  const rest = proof.slice(start);
  const mask = (s1 - 1n) >> BigInt(shift); // chaining starts at level `shift`

  // Old root: only the left siblings on the path (the old tree ended at leaf size1-1).
  let hash1 = chainInnerRight(sha, seed, rest.slice(0, inner), mask);
  hash1 = chainBorderRight(sha, hash1, rest.slice(inner));
  if (!equal(hash1, root1)) return false;
  // New root: every sibling on the path.
  let hash2 = chainInner(sha, seed, rest.slice(0, inner), mask);
  hash2 = chainBorderRight(sha, hash2, rest.slice(inner));
  return equal(hash2, root2);
}

// ---------------------------------------------------------------------------------------------

/**
 * Splits the inclusion proof of leaf `index` in a `size`-leaf tree: `inner` hashes below the
 * level where the paths to `index` and to the last leaf `size-1` meet, then `border` hashes, one
 * per set bit of `index` above that level (left siblings along the right border).
 */
function decompose(index: bigint, size: bigint): { inner: number; border: number } {
  const inner = bitLength(index ^ (size - 1n));
  const border = popCount(index >> BigInt(inner));
  return { inner, border };
}

/** Chains a leaf (or subtree) hash up through `proof`, taking each side from `index`'s bits. */
function chainInner(sha: Sha256, seed: Uint8Array, proof: readonly Uint8Array[], index: bigint): Uint8Array {
  for (let i = 0; i < proof.length; i++) {
    seed = ((index >> BigInt(i)) & 1n) === 0n ? nodeHash(sha, seed, proof[i]!) : nodeHash(sha, proof[i]!, seed);
  }
  return seed;
}

/** Like chainInner, but only left siblings count: the hash of the earlier, smaller subtree. */
function chainInnerRight(sha: Sha256, seed: Uint8Array, proof: readonly Uint8Array[], index: bigint): Uint8Array {
  for (let i = 0; i < proof.length; i++) {
    if (((index >> BigInt(i)) & 1n) === 1n) seed = nodeHash(sha, proof[i]!, seed);
  }
  return seed;
}

/** Border hashes are all left siblings. */
function chainBorderRight(sha: Sha256, seed: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  for (const h of proof) seed = nodeHash(sha, h, seed);
  return seed;
}

const U64_MAX = (1n << 64n) - 1n;

function toU64(v: number | bigint, what: string): bigint {
  if (typeof v === "bigint") {
    if (v < 0n || v > U64_MAX) throw new Error(`${what} ${v} is not a uint64`);
    return v;
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${what} ${v} is not a non-negative safe integer`);
  return BigInt(v);
}

function checkHashes(proof: readonly Uint8Array[]): void {
  // transparency-dev lets a hash of the wrong length fail at the final comparison; refusing it
  // up front gives the same answer and never hashes garbage.
  for (const h of proof) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new Error("proof hash is not 32 bytes");
  }
}

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

function popCount(x: bigint): number {
  let n = 0;
  for (const c of x.toString(2)) if (c === "1") n++;
  return n;
}

/** Trailing zero bits of x > 0. */
function trailingZeros(x: bigint): number {
  let n = 0;
  while ((x & 1n) === 0n) {
    x >>= 1n;
    n++;
  }
  return n;
}

/** Byte equality (proof data is public, so no constant-time comparison is needed). */
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
