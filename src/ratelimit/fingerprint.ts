/**
 * 64-bit fingerprints of subject ids, the memory store's keys.
 *
 * The table stores fingerprints instead of the id strings (8 bytes instead of a string and a
 * pointer per subject). Two ids share a fingerprint with probability ~n²/2⁶⁵: about 3·10⁻⁸ for a
 * million subjects, and the cost of such a collision is two subjects sharing one budget. The two
 * halves come from two unrelated hash functions (xxHash32 and MurmurHash3), so a collision needs
 * both to collide at once. Halves are int32 values (`| 0`) so the JIT compares small integers.
 */
import type { Limits, Subject } from "./types";

const SEED_HI = 0x9e3779b9;
const SEED_LO = 0x85ebca6b;

/**
 * High half of the fingerprint of `id`.
 *
 * @example
 * const hi = fingerprintHi("tenant:acme");
 */
export function fingerprintHi(id: string): number {
  return Bun.hash.xxHash32(id, SEED_HI) | 0;
}

/**
 * Low half of the fingerprint of `id`, given its high half: (0, 0) marks an empty table slot, so
 * that one fingerprint is moved to (0, 1).
 *
 * @example
 * const lo = fingerprintLo("tenant:acme", fingerprintHi("tenant:acme"));
 */
export function fingerprintLo(id: string, hi: number): number {
  const lo = Bun.hash.murmur32v3(id, SEED_LO) | 0;
  return hi === 0 && lo === 0 ? 1 : lo;
}

/**
 * A subject with its fingerprint computed once, to keep with the key or tenant record it limits
 * (a check then skips hashing the id).
 *
 * @example
 * const key = subject("key:key_ab12", { rpm: 60, tpm: 90_000, maxConcurrent: 4 });
 */
export function subject(id: string, limits: Limits): Subject {
  const fpHi = fingerprintHi(id);
  return { id, limits, fpHi, fpLo: fingerprintLo(id, fpHi) };
}
