import { describe, expect, test } from "bun:test";
import { fingerprintHi, fingerprintLo } from "./fingerprint";
import { createTable, findSlot, insertSlot, MAX_LOAD, reserve, SLOT_BYTES, tableBytes, TARGET_LOAD } from "./table";

function fingerprints(n: number, make: (i: number) => string): Int32Array {
  const fp = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const id = make(i);
    fp[2 * i] = fingerprintHi(id);
    fp[2 * i + 1] = fingerprintLo(id, fp[2 * i]);
  }
  return fp;
}

describe("fingerprints", () => {
  test("a million ids get a million distinct 64-bit fingerprints (sequential and random ids)", () => {
    let seed = 42;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32).toString(36).slice(2, 12);
    const makers = [(i: number) => `key:key_${i.toString(16).padStart(12, "0")}`, (i: number) => `tenant:${i}`, (i: number) => `key:key_${random()}${i}`];
    for (const make of makers) {
      const n = 1_000_000;
      const fp = fingerprints(n, make);
      const table = createTable(n / TARGET_LOAD);
      for (let i = 0; i < n; i++) insertSlot(table, fp[2 * i], fp[2 * i + 1]);
      expect(table.count).toBe(n); // an equal fingerprint would have found the existing slot
    }
  });

  test("the high half alone collides like any 32-bit hash; the low half tells those ids apart", () => {
    const n = 1_000_000;
    const fp = fingerprints(n, (i) => `key:key_${Bun.hash.wyhash(String(i)).toString(36)}`);
    const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => (fp[2 * a] >>> 0) - (fp[2 * b] >>> 0));
    let sameHi = 0;
    for (let j = 1; j < n; j++) {
      const a = order[j - 1];
      const b = order[j];
      if (fp[2 * a] !== fp[2 * b]) continue;
      sameHi++;
      expect(fp[2 * a + 1]).not.toBe(fp[2 * b + 1]);
    }
    // Birthday bound for 32 bits: n²/2³³ ≈ 116 expected.
    expect(sameHi).toBeGreaterThan(40);
    expect(sameHi).toBeLessThan(250);
  });
});

describe("subject table", () => {
  test("grows by rehashing: every entry stays findable with its state, load stays within bounds", () => {
    const table = createTable(64);
    const n = 200_000;
    const fp = fingerprints(n, (i) => `key:${i}`);
    let rebuilds = 0;
    for (let i = 0; i < n; i++) {
      const before = table.capacity;
      reserve(table, 1, 0);
      if (table.capacity !== before) rebuilds++;
      const slot = insertSlot(table, fp[2 * i], fp[2 * i + 1]);
      table.floats[4 * slot + 2] = 1e9 + i; // a TAT in the future: live, never evicted
      expect(table.count / table.capacity).toBeLessThanOrEqual(MAX_LOAD);
    }
    expect(rebuilds).toBeGreaterThan(10);
    expect(tableBytes(table) / table.count).toBeLessThanOrEqual(SLOT_BYTES / TARGET_LOAD + 1);
    expect(tableBytes(table) / table.count).toBeLessThanOrEqual(64);
    for (let i = 0; i < n; i++) {
      const slot = findSlot(table, fp[2 * i], fp[2 * i + 1]);
      expect(slot).toBeGreaterThanOrEqual(0);
      if (table.floats[4 * slot + 2] !== 1e9 + i) throw new Error(`entry ${i} lost its state`);
    }
    expect(findSlot(table, 12345, 678)).toBe(-1);
  });

  test("a rebuild evicts idle entries (TATs past, nothing in flight) and keeps the rest", () => {
    const table = createTable(1000);
    const n = table.maxCount;
    const fp = fingerprints(n, (i) => `key:${i}`);
    const now = 5000;
    for (let i = 0; i < n; i++) {
      const slot = insertSlot(table, fp[2 * i], fp[2 * i + 1]);
      if (i % 3 === 0) table.floats[4 * slot + 2] = now + 1; // requests still owed
      if (i % 3 === 1) table.ints[8 * slot + 2] = 1; // a request in flight
      if (i % 3 === 2) table.floats[4 * slot + 3] = now; // paid off exactly now: idle
    }
    reserve(table, 1, now);
    for (let i = 0; i < n; i++) {
      expect(findSlot(table, fp[2 * i], fp[2 * i + 1]) >= 0).toBe(i % 3 !== 2);
    }
    expect(table.count).toBe(n - Math.floor(n / 3));
  });
});
