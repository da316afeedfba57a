/**
 * The proof lookup's check: is this record leaf `index` of the tree the checkpoint signed?
 * Everything is computed here from the inputs; nothing the gateway says about hashes is
 * trusted. The RFC 9162 verifier is the gateway's own (src/audit/proof.ts), bundled for the
 * browser with @noble/hashes' SHA-256 injected.
 *
 * @example
 * const r = checkInclusion(sha256, { record, index: 7, size: cp.size, proof, root: cp.root });
 * r.verified; // false as soon as one byte of record, proof or root differs
 */
import { leafHash, rootFromInclusionProof, type Sha256 } from "../../audit/proof";
import { equalBytes, fromHex } from "./bytes";

export interface InclusionInput {
  /** The leaf: the record's bytes exactly as GET /v1/audit/records/{seq} served them. */
  record: Uint8Array;
  index: number;
  size: number;
  proof: Uint8Array[];
  /** The root hash from the (signed) checkpoint of `size` leaves. */
  root: Uint8Array;
}

export interface InclusionResult {
  verified: boolean;
  /** SHA-256(0x00 ‖ record). */
  leafHash: Uint8Array;
  /** The root the proof leads to, when it has a valid shape. */
  computedRoot?: Uint8Array;
  /** Why it did not verify. */
  reason?: string;
}

export function checkInclusion(sha: Sha256, input: InclusionInput): InclusionResult {
  const leaf = leafHash(sha, input.record);
  let computedRoot: Uint8Array;
  try {
    computedRoot = rootFromInclusionProof(sha, input.index, input.size, leaf, input.proof);
  } catch (e) {
    return { verified: false, leafHash: leaf, reason: `the proof is malformed: ${(e as Error).message}` };
  }
  if (input.root.length !== 32) return { verified: false, leafHash: leaf, computedRoot, reason: "the root hash is not 32 bytes" };
  if (!equalBytes(computedRoot, input.root)) {
    return { verified: false, leafHash: leaf, computedRoot, reason: "the record and proof lead to a different root than the checkpoint's" };
  }
  return { verified: true, leafHash: leaf, computedRoot };
}

/**
 * A copy of `bytes` with one byte changed, to show that a proof fails for a tampered record.
 * It flips the lowest bit of a letter or digit near the middle, so JSON stays readable
 * ASCII and the change is easy to spot ("7" becomes "6", "a" becomes "`").
 */
export function flipOneByte(bytes: Uint8Array): { bytes: Uint8Array; at: number } {
  const out = bytes.slice();
  if (out.length === 0) return { bytes: out, at: -1 };
  const middle = Math.floor(out.length / 2);
  const alnum = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
  let at = middle;
  for (let d = 0; d < out.length; d++) {
    const i = (middle + d) % out.length;
    if (alnum(out[i]!)) {
      at = i;
      break;
    }
  }
  out[at]! ^= 0x01;
  return { bytes: out, at };
}

/** Proof hashes from text: hex, one per line (or separated by spaces or commas). */
export function parseProofText(text: string): Uint8Array[] {
  const parts = text.split(/[\s,]+/).filter((p) => p !== "");
  return parts.map((p) => {
    if (!/^[0-9a-fA-F]{64}$/.test(p)) throw new Error(`'${p.slice(0, 16)}…' is not a 32-byte hex hash`);
    return fromHex(p);
  });
}
