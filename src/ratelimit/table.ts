/**
 * The memory store's subject table: open addressing over one typed array, keyed by fingerprint.
 *
 * A `Map<string, …>` costs ~100+ bytes per entry at a million subjects (string, map node, value
 * object); here a subject is one 32-byte slot with no object for the garbage collector to trace.
 * A slot is half a cache line, so a lookup and the state it reads cost one memory access, which
 * is what a check pays for at a million subjects (three parallel arrays cost three):
 *
 *     bytes  0– 7  Int32 ×2    fingerprint (hi, lo); (0, 0) = empty      ints[8i], ints[8i+1]
 *     bytes  8–11  Int32       concurrency slots held                    ints[8i+2]
 *     bytes 12–15  (padding, keeps the doubles aligned)
 *     bytes 16–31  Float64 ×2  requests TAT, tokens TAT (store clock ms)  floats[4i+2], floats[4i+3]
 *
 * Linear probing from `hi` mapped onto the capacity (multiply-shift, so the capacity need not
 * be a power of two). The table never deletes single entries, so no tombstones: when an insert
 * would pass MAX_LOAD, {@link reserve} rebuilds it, dropping idle entries (both TATs in the past,
 * nothing in flight: forgetting them changes no decision) and sizing the rest to TARGET_LOAD.
 * Growth is therefore ×1.45 and the load stays in [0.55, 0.8]: 40–58 bytes per subject.
 */

export const MAX_LOAD = 0.8;
export const TARGET_LOAD = 0.55;
export const SLOT_BYTES = 32;
const TWO_32 = 4294967296;

export interface SubjectTable {
  capacity: number;
  /** Occupied slots. */
  count: number;
  /** Rebuild before count would exceed this. */
  maxCount: number;
  minCapacity: number;
  /** The slots as int32s: 8 per slot (fingerprint hi, lo, in flight). */
  ints: Int32Array;
  /** The same bytes as float64s: 4 per slot (TATs at 4i+2, 4i+3). */
  floats: Float64Array;
}

/**
 * @example
 * const table = createTable(1024);
 */
export function createTable(capacity: number, minCapacity = capacity): SubjectTable {
  const cap = Math.max(64, Math.ceil(capacity));
  const bytes = new ArrayBuffer(cap * SLOT_BYTES);
  return {
    capacity: cap,
    count: 0,
    maxCount: Math.floor(cap * MAX_LOAD),
    minCapacity: Math.max(64, Math.ceil(minCapacity)),
    ints: new Int32Array(bytes),
    floats: new Float64Array(bytes),
  };
}

/** Where probing for `hi` starts: the top bits of hi scaled to [0, capacity). */
function home(hi: number, capacity: number): number {
  return (((hi >>> 0) * capacity) / TWO_32) | 0;
}

/**
 * The slot holding fingerprint (hi, lo), or -1.
 *
 * @example
 * const slot = findSlot(table, s.fpHi, s.fpLo);
 */
export function findSlot(table: SubjectTable, hi: number, lo: number): number {
  const ints = table.ints;
  const cap = table.capacity;
  let i = home(hi, cap);
  for (;;) {
    const k = ints[8 * i];
    const l = ints[8 * i + 1];
    if (k === hi && l === lo) return i;
    if (k === 0 && l === 0) return -1;
    if (++i === cap) i = 0;
  }
}

/**
 * The slot holding (hi, lo), claiming an empty one (zeroed state = idle subject) if absent.
 * The caller must have reserved room: this never rebuilds, so slot numbers stay valid.
 *
 * @example
 * reserve(table, 2, now);
 * const a = insertSlot(table, key.fpHi, key.fpLo), b = insertSlot(table, tenant.fpHi, tenant.fpLo);
 */
export function insertSlot(table: SubjectTable, hi: number, lo: number): number {
  const ints = table.ints;
  const cap = table.capacity;
  let i = home(hi, cap);
  for (;;) {
    const k = ints[8 * i];
    const l = ints[8 * i + 1];
    if (k === hi && l === lo) return i;
    if (k === 0 && l === 0) {
      ints[8 * i] = hi;
      ints[8 * i + 1] = lo;
      table.count++;
      return i;
    }
    if (++i === cap) i = 0;
  }
}

/**
 * Makes room for `extra` more subjects, rebuilding (evicting idle entries, then resizing) when
 * needed. Slot numbers taken before a call are invalid after it.
 *
 * @example
 * reserve(table, subjects.length, now);
 */
export function reserve(table: SubjectTable, extra: number, now: number): void {
  if (table.count + extra <= table.maxCount) return;
  rebuild(table, extra, now);
}

function isLive(ints: Int32Array, floats: Float64Array, i: number, now: number): boolean {
  return floats[4 * i + 2] > now || floats[4 * i + 3] > now || ints[8 * i + 2] > 0;
}

function rebuild(table: SubjectTable, extra: number, now: number): void {
  const { ints, floats, capacity } = table;
  let live = 0;
  for (let i = 0; i < capacity; i++) {
    if ((ints[8 * i] !== 0 || ints[8 * i + 1] !== 0) && isLive(ints, floats, i, now)) live++;
  }
  const cap = Math.max(table.minCapacity, Math.ceil((live + extra) / TARGET_LOAD));
  const fresh = createTable(cap, table.minCapacity);
  for (let i = 0; i < capacity; i++) {
    const hi = ints[8 * i];
    const lo = ints[8 * i + 1];
    if ((hi === 0 && lo === 0) || !isLive(ints, floats, i, now)) continue;
    const j = insertSlot(fresh, hi, lo);
    fresh.ints[8 * j + 2] = ints[8 * i + 2];
    fresh.floats[4 * j + 2] = floats[4 * i + 2];
    fresh.floats[4 * j + 3] = floats[4 * i + 3];
  }
  Object.assign(table, fresh);
}

/**
 * Bytes held by the table's arrays.
 *
 * @example
 * tableBytes(table) / table.count // bytes per subject
 */
export function tableBytes(table: SubjectTable): number {
  return table.ints.byteLength;
}
