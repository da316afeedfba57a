import { describe, expect, test } from "bun:test";
import { CHECKSUM_CHARS, KEY_LENGTH, KEY_PATTERN, RANDOM_CHARS, generateKey, isWellFormed, newKeyId, secretHash } from "./secret";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

describe("key format", () => {
  test("wdn- + 32 random base62 characters (≥ 128 bits) + 6 checksum characters", () => {
    const key = generateKey();
    expect(key).toMatch(/^wdn-[0-9A-Za-z]{38}$/);
    expect(key).toHaveLength(KEY_LENGTH);
    expect(KEY_LENGTH).toBe(42);
    expect(RANDOM_CHARS * Math.log2(62)).toBeGreaterThanOrEqual(128);
    // The checksum field can hold every CRC32 value.
    expect(62 ** CHECKSUM_CHARS).toBeGreaterThan(2 ** 32);
    expect(isWellFormed(key)).toBe(true);
  });

  test("keys are distinct and their characters spread over the whole alphabet", () => {
    const keys = Array.from({ length: 2000 }, generateKey);
    expect(new Set(keys).size).toBe(keys.length);
    const counts = new Map<string, number>();
    for (const k of keys) for (const c of k.slice(4, 4 + RANDOM_CHARS)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // 64 000 draws over 62 symbols: ~1032 each; a modulo bias or a short alphabet would show.
    for (const n of counts.values()) expect(n).toBeWithin(800, 1300);
  });

  test("the checksum catches every single-character change", () => {
    for (let round = 0; round < 5; round++) {
      const key = generateKey();
      for (let i = 0; i < key.length; i++) {
        for (const c of BASE62 + "-_") {
          if (c === key[i]) continue;
          const changed = key.slice(0, i) + c + key.slice(i + 1);
          expect(isWellFormed(changed)).toBe(false);
        }
      }
    }
  });

  test("also catches swapped neighbours, and refuses other shapes", () => {
    const key = generateKey();
    for (let i = 4; i < key.length - 1; i++) {
      if (key[i] === key[i + 1]) continue;
      expect(isWellFormed(key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2))).toBe(false);
    }
    for (const bad of ["", "wdn-", key.slice(0, -1), `${key}0`, key.replace("wdn-", "wdx-"), key.toUpperCase(), ` ${key}`, `sk-${key.slice(4)}`]) {
      expect(isWellFormed(bad)).toBe(false);
    }
  });

  test("the documented scanner regex finds keys in text and skips look-alikes", () => {
    const a = generateKey();
    const b = generateKey();
    const tooLong = `${generateKey()}0`;
    const text = `config: token=${a}\n"${b}" wdn-short ${tooLong} _${generateKey()}`;
    const found = [...text.matchAll(new RegExp(KEY_PATTERN, "g"))].map((m) => m[0]);
    expect(found).toEqual([a, b]);
  });

  test("the stored hash is SHA-256 of the key; ids are key_ + 16 hex digits", () => {
    const key = generateKey();
    expect(Buffer.from(secretHash(key)).toString("hex")).toBe(new Bun.CryptoHasher("sha256").update(key).digest("hex"));
    expect(newKeyId()).toMatch(/^key_[0-9a-f]{16}$/);
    expect(newKeyId()).not.toBe(newKeyId());
  });
});
