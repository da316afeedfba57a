import { describe, expect, test } from "bun:test";
import { sha256 } from "@noble/hashes/sha2.js";
import { leafHash, nodeHash } from "../../audit/proof";
import { toHex } from "./bytes";
import { checkInclusion, flipOneByte, parseProofText } from "./inclusion";

const bunSha = (d: Uint8Array) => new Bun.CryptoHasher("sha256").update(d).digest() as Uint8Array;
const encoder = new TextEncoder();

// A literal RFC 9162 §2.1 reference (MTH and PATH), independent of the verifier under test.
const split = (n: number) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
const mth = (d: Uint8Array[]): Uint8Array =>
  d.length === 1 ? leafHash(bunSha, d[0]!) : nodeHash(bunSha, mth(d.slice(0, split(d.length))), mth(d.slice(split(d.length))));
const path = (m: number, d: Uint8Array[]): Uint8Array[] => {
  if (d.length === 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
};

const records = Array.from({ length: 23 }, (_, i) => encoder.encode(JSON.stringify({ seq: i, status: 200, v: 1 })));

describe("checkInclusion with @noble/hashes' SHA-256", () => {
  test("noble's SHA-256 is Bun's", () => {
    for (const r of records) expect(toHex(sha256(r))).toBe(toHex(bunSha(r)));
  });

  test("every leaf of every tree size up to 23 verifies against its root", () => {
    for (let size = 1; size <= records.length; size++) {
      const tree = records.slice(0, size);
      const root = mth(tree);
      for (let index = 0; index < size; index++) {
        const r = checkInclusion(sha256, { record: tree[index]!, index, size, proof: path(index, tree), root });
        expect({ size, index, verified: r.verified, reason: r.reason }).toEqual({ size, index, verified: true, reason: undefined });
        expect(toHex(r.leafHash)).toBe(toHex(leafHash(bunSha, tree[index]!)));
      }
    }
  });

  const tree = records.slice(0, 13);
  const input = { record: tree[5]!, index: 5, size: 13, proof: path(5, tree), root: mth(tree) };

  test("one flipped byte in the record fails, and says the root differs", () => {
    const r = checkInclusion(sha256, { ...input, record: flipOneByte(input.record).bytes });
    expect(r.verified).toBe(false);
    expect(r.reason).toContain("different root");
    expect(toHex(r.computedRoot!)).not.toBe(toHex(input.root));
  });

  test("a changed proof hash, root, index or size fails", () => {
    const proof = input.proof.map((h) => h.slice());
    proof[1]![0]! ^= 0x80;
    expect(checkInclusion(sha256, { ...input, proof }).verified).toBe(false);
    const root = input.root.slice();
    root[31]! ^= 1;
    expect(checkInclusion(sha256, { ...input, root }).verified).toBe(false);
    expect(checkInclusion(sha256, { ...input, index: 4 }).verified).toBe(false);
    expect(checkInclusion(sha256, { ...input, size: 14 }).verified).toBe(false);
  });

  test("a proof of the wrong shape is called malformed", () => {
    expect(checkInclusion(sha256, { ...input, proof: input.proof.slice(1) }).reason).toContain("malformed");
    expect(checkInclusion(sha256, { ...input, proof: [...input.proof, input.root] }).reason).toContain("malformed");
    expect(checkInclusion(sha256, { ...input, index: 13 }).reason).toContain("malformed");
  });
});

describe("flipOneByte", () => {
  test("changes exactly one byte, a letter or digit, by its lowest bit, and leaves the input alone", () => {
    const original = encoder.encode('{"seq":7,"status":200}');
    const copy = original.slice();
    const { bytes, at } = flipOneByte(original);
    expect(original).toEqual(copy);
    const changed = [...bytes].flatMap((b, i) => (b !== original[i] ? [i] : []));
    expect(changed).toEqual([at]);
    expect(bytes[at]! ^ original[at]!).toBe(1);
    expect(/[A-Za-z0-9]/.test(String.fromCharCode(original[at]!))).toBe(true);
  });

  test("an empty record has nothing to flip", () => {
    expect(flipOneByte(new Uint8Array(0)).at).toBe(-1);
  });
});

describe("parseProofText", () => {
  const a = "ab".repeat(32);
  const b = "CD".repeat(32);
  test("hex hashes separated by newlines, spaces or commas", () => {
    expect(parseProofText(`${a}\n${b}\n`).map(toHex)).toEqual([a, b.toLowerCase()]);
    expect(parseProofText(` ${a}, ${b} `)).toHaveLength(2);
    expect(parseProofText("  \n")).toEqual([]);
  });
  test("refuses anything that is not a 32-byte hex hash", () => {
    expect(() => parseProofText(a.slice(2))).toThrow(/not a 32-byte hex hash/);
    expect(() => parseProofText(`${a.slice(1)}g`)).toThrow(/not a 32-byte hex hash/);
  });
});
