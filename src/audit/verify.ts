/**
 * `warden verify --data-dir DIR`: checks a ledger offline, from its files alone.
 *
 * Replays every WAL record, checks it is canonical (re-encoding gives the same bytes) and carries
 * its own sequence number, rebuilds the Merkle tree in a scratch file, and checks every stored
 * checkpoint: its signature, that its root is the tree's root at its size, and that each is
 * consistent with the next (an RFC 9162 consistency proof, checked by the TypeScript verifier).
 * The WAL is opened as the gateway opens it, so a torn tail above the last checkpoint is cut
 * exactly as a restart would; the ledger must not be in use (the WAL directory is locked).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Mmr, NativeCore } from "../native";
import { openNote, parseCheckpoint, parseSignerKey, parseVerifierKey, verifierKeyOf } from "./note";
import { verifyConsistency } from "./proof";
import { canonicalJson, decode } from "./record";
import type { Checkpoint } from "./ledger";

const sha256 = (data: Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest() as Uint8Array;
const BATCH = 4096;

export interface VerifyResult {
  ok: boolean;
  records: number;
  checkpoints: number;
  /** The first problem, naming the sequence number or checkpoint it concerns. */
  problem?: string;
  badSeq?: number;
}

function progress(done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  process.stderr.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} records`);
  if (done === total) process.stderr.write("\n");
}

export async function verifyLedger(core: NativeCore, dataDir: string, opts: { verifierKey?: string } = {}): Promise<VerifyResult> {
  const dir = join(dataDir, "ledger");
  if (!existsSync(join(dir, "wal"))) return { ok: false, records: 0, checkpoints: 0, problem: `no ledger in ${dir}` };
  const keyFile = join(dir, "signing.key");
  const verifierKey = opts.verifierKey ?? (existsSync(keyFile) ? verifierKeyOf(await parseSignerKey(readFileSync(keyFile, "utf8").trim())) : undefined);
  if (verifierKey === undefined) return { ok: false, records: 0, checkpoints: 0, problem: "no verifier key: pass --key or keep ledger/signing.key" };
  const verifier = await parseVerifierKey(verifierKey);

  const cpFile = join(dir, "checkpoints.jsonl");
  const lines = existsSync(cpFile) ? readFileSync(cpFile, "utf8").split("\n").filter(Boolean) : [];
  const checkpoints: { size: number; root: Uint8Array; line: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    let cp: Checkpoint;
    try {
      cp = JSON.parse(lines[i]) as Checkpoint;
    } catch {
      if (i === lines.length - 1) break; // a torn last line was never acknowledged
      return { ok: false, records: 0, checkpoints: i, problem: `checkpoint line ${i + 1} is not JSON` };
    }
    try {
      const body = parseCheckpoint(await openNote(cp.note, verifier));
      if (body.size !== cp.size) throw new Error(`size ${cp.size} differs from the signed size ${body.size}`);
      checkpoints.push({ size: body.size, root: body.root, line: i + 1 });
    } catch (e) {
      return { ok: false, records: 0, checkpoints: i, problem: `checkpoint line ${i + 1}: ${(e as Error).message}` };
    }
  }
  const watermark = checkpoints.at(-1)?.size ?? 0;

  let wal;
  try {
    wal = core.openWal(join(dir, "wal"), { watermark });
  } catch (e) {
    return { ok: false, records: 0, checkpoints: checkpoints.length, problem: (e as Error).message };
  }
  const scratch = mkdtempSync(join(tmpdir(), "warden-verify-"));
  const mmr = core.openMmr(join(scratch, "nodes.mmr"));
  try {
    const total = wal.length();
    for (let from = 0; from < total; from += BATCH) {
      const batch = wal.readBatch(from, Math.min(BATCH, total - from));
      for (let i = 0; i < batch.length; i++) {
        const seq = from + i;
        const leaf = batch[i].payload;
        let again: string;
        try {
          const record = decode(leaf);
          if (record.seq !== seq) throw new Error(`it carries seq ${record.seq}`);
          again = canonicalJson(record);
        } catch (e) {
          return { ok: false, records: seq, checkpoints: checkpoints.length, badSeq: seq, problem: `record ${seq} is not a valid record: ${(e as Error).message}` };
        }
        if (again !== new TextDecoder().decode(leaf)) {
          return { ok: false, records: seq, checkpoints: checkpoints.length, badSeq: seq, problem: `record ${seq} is not in canonical form` };
        }
      }
      mmr.appendLeaves(batch.map((r) => r.payload));
      progress(from + batch.length, total);
    }
    if (total === 0) progress(0, 0);
    let previous: { size: number; root: Uint8Array } | undefined;
    for (const cp of checkpoints) {
      if (cp.size > total) {
        return { ok: false, records: total, checkpoints: checkpoints.length, badSeq: total, problem: `checkpoint line ${cp.line} covers ${cp.size} records but the log holds ${total}` };
      }
      const root = mmr.root(cp.size);
      if (Buffer.compare(root, cp.root) !== 0) {
        const bad = firstDivergence(core, join(dir, "nodes.mmr"), mmr, previous?.size ?? 0, cp.size);
        return { ok: false, records: total, checkpoints: checkpoints.length, badSeq: bad, problem: `the records no longer match checkpoint line ${cp.line} (size ${cp.size}); the first record that differs is ${bad}` };
      }
      if (previous && previous.size > 0 && previous.size <= cp.size) {
        const proof = mmr.consistencyProof(previous.size, cp.size);
        if (!verifyConsistency(sha256, previous.size, cp.size, previous.root, cp.root, proof)) {
          return { ok: false, records: total, checkpoints: checkpoints.length, problem: `checkpoint line ${cp.line} is not consistent with the one before it` };
        }
      } else if (previous && previous.size > cp.size) {
        return { ok: false, records: total, checkpoints: checkpoints.length, problem: `checkpoint line ${cp.line} shrinks the log from ${previous.size} to ${cp.size}` };
      }
      previous = cp;
    }
    return { ok: true, records: total, checkpoints: checkpoints.length };
  } finally {
    mmr.close();
    wal.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The tree rebuilt from the records disagrees with a signed root somewhere in [from, to). The
 * gateway's own node file still holds the leaf hashes as they were appended; the first leaf
 * whose hash differs from the rebuilt one is the altered record. Without that file the
 * signatures only bound it: `from` is the first record no matching checkpoint vouches for.
 */
function firstDivergence(core: NativeCore, storedNodes: string, rebuilt: Mmr, from: number, to: number): number {
  if (!existsSync(storedNodes)) return from;
  let stored: Mmr | undefined;
  try {
    stored = core.openMmr(storedNodes);
    const end = Math.min(to, stored.size());
    for (let i = from; i < end; i++) {
      if (Buffer.compare(stored.leafHash(i), rebuilt.leafHash(i)) !== 0) return i;
    }
    return from;
  } catch {
    return from;
  } finally {
    stored?.close();
  }
}
