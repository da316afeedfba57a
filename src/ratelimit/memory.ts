/**
 * The in-process store: one gateway instance, state in a typed-array table (table.ts).
 *
 * Everything is synchronous and allocates one Decision per limited check (none when nothing
 * is limited): no Promise, no per-subject objects. Time is monotonic (ms since process start),
 * so a wall-clock step (NTP) neither frees nor freezes budgets.
 */
import { advance, evaluate, MAX_SUBJECTS, UNLIMITED } from "./gcra";
import { fingerprintHi, fingerprintLo } from "./fingerprint";
import { createTable, findSlot, insertSlot, reserve, tableBytes } from "./table";
import type { Decision, RateLimiter, Subject } from "./types";

export interface MemoryLimiterOptions {
  /** Slots allocated up front (default 1024); the table never shrinks below it. */
  initialCapacity?: number;
  /** Clock in ms (default: monotonic, since process start); tests pass a virtual one. */
  now?: () => number;
}

export interface MemoryLimiter extends RateLimiter {
  check(subjects: readonly Subject[], promptTokens: number): Decision;
  charge(subjects: readonly Subject[], completionTokens: number): void;
  /** Table size, for benchmarks and metrics. */
  stats(): { subjects: number; capacity: number; bytes: number };
}

function isLimited(s: Subject): boolean {
  const l = s.limits;
  return l.rpm !== null || l.tpm !== null || l.maxConcurrent !== null;
}

/**
 * @example
 * const limiter = createMemoryLimiter();
 * const d = limiter.check([key, tenant], promptTokens);
 * if (!d.allowed) throw rateLimitError(d);
 * // … when the reply has ended:
 * limiter.charge([key, tenant], usage.completion_tokens);
 * limiter.release(d);
 */
export function createMemoryLimiter(options: MemoryLimiterOptions = {}): MemoryLimiter {
  const initial = options.initialCapacity ?? 1024;
  let table = createTable(initial);
  // Bun.nanoseconds() is monotonic and the cheapest clock here (~36 ns vs ~45 for performance.now()).
  const clock = options.now ?? (() => Bun.nanoseconds() / 1e6);
  // Scratch for one check, reused: slot per subject, state before (3 per subject), TATs after (2).
  const slots = new Int32Array(MAX_SUBJECTS);
  const state = new Float64Array(3 * MAX_SUBJECTS);
  const next = new Float64Array(2 * MAX_SUBJECTS);

  /** The subject's slot, claiming one if new; hashes the id only when the subject has no cached fingerprint. */
  function slotOf(s: Subject): number {
    let hi = s.fpHi;
    let lo = s.fpLo;
    if (hi === undefined || lo === undefined) {
      hi = fingerprintHi(s.id);
      lo = fingerprintLo(s.id, hi);
      if (Object.isExtensible(s)) {
        s.fpHi = hi;
        s.fpLo = lo;
      }
    }
    return insertSlot(table, hi, lo);
  }

  function findOf(s: Subject): number {
    if (s.fpHi !== undefined && s.fpLo !== undefined) return findSlot(table, s.fpHi, s.fpLo);
    const hi = fingerprintHi(s.id);
    return findSlot(table, hi, fingerprintLo(s.id, hi));
  }

  function check(subjects: readonly Subject[], promptTokens: number): Decision {
    const n = subjects.length;
    if (n === 0) return UNLIMITED;
    if (n > MAX_SUBJECTS) throw new RangeError(`rate limiter: at most ${MAX_SUBJECTS} subjects per check, got ${n}`);
    const cost = promptTokens > 0 ? promptTokens : 0;
    const now = clock();
    reserve(table, n, now);
    const { ints, floats } = table;
    let limited = false;
    for (let i = 0; i < n; i++) {
      const s = subjects[i];
      if (!isLimited(s)) {
        slots[i] = -1;
        continue;
      }
      limited = true;
      const slot = slotOf(s);
      slots[i] = slot;
      state[3 * i] = floats[4 * slot + 2];
      state[3 * i + 1] = floats[4 * slot + 3];
      state[3 * i + 2] = ints[8 * slot + 2];
    }
    if (!limited) return UNLIMITED;
    const d = evaluate(subjects, cost, now, state, next);
    if (!d.allowed) return d;
    for (let i = 0; i < n; i++) {
      const slot = slots[i];
      if (slot < 0) continue;
      const { rpm, tpm } = subjects[i].limits;
      if (rpm !== null) floats[4 * slot + 2] = next[2 * i];
      if (tpm !== null) floats[4 * slot + 3] = next[2 * i + 1];
      if (d.held & (1 << i)) ints[8 * slot + 2]++;
    }
    if (d.held !== 0) d.subjects = subjects;
    return d;
  }

  function release(d: Decision): void {
    const held = d.held;
    if (held === 0) return;
    d.held = 0;
    const subjects = d.subjects;
    if (subjects === null) return;
    for (let i = 0; i < subjects.length; i++) {
      if ((held & (1 << i)) === 0) continue;
      const slot = findOf(subjects[i]);
      if (slot >= 0 && table.ints[8 * slot + 2] > 0) table.ints[8 * slot + 2]--;
    }
  }

  function charge(subjects: readonly Subject[], completionTokens: number): void {
    if (!(completionTokens > 0)) return;
    const n = subjects.length;
    const now = clock();
    reserve(table, n, now);
    for (let i = 0; i < n; i++) {
      const s = subjects[i];
      const tpm = s.limits.tpm;
      if (tpm === null || tpm <= 0) continue;
      const slot = slotOf(s);
      table.floats[4 * slot + 3] = advance(table.floats[4 * slot + 3], now, completionTokens, tpm);
    }
  }

  return {
    check,
    release,
    charge,
    close() {
      table = createTable(64);
    },
    stats: () => ({ subjects: table.count, capacity: table.capacity, bytes: tableBytes(table) }),
  };
}
