/** The ledger over the real Rust core: appends, checkpoints, proofs, recovery, offline verify. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCore, type NativeCore } from "../native";
import { openLedger, type LedgerOptions } from "./ledger";
import { openNote, parseCheckpoint, parseVerifierKey } from "./note";
import { leafHash, verifyConsistency, verifyInclusion } from "./proof";
import { decode, type HandOff } from "./record";
import { verifyLedger } from "./verify";

const sha256 = (d: Uint8Array) => new Bun.CryptoHasher("sha256").update(d).digest() as Uint8Array;
const enc = new TextEncoder();
const OPTS: LedgerOptions = { origin: "test.example/ledger", checkpointEveryRecords: 10, checkpointEveryMs: 60_000 };

let dir: string;
let core: NativeCore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "warden-ledger-"));
  core = await loadCore(join(dir, "lib"));
});
afterEach(() => {
  core.close();
  rmSync(dir, { recursive: true, force: true });
});

function handOffs(n: number, from = 0): HandOff[] {
  return Array.from({ length: n }, (_, i) => ({
    time: 1_795_000_000_000 + from + i,
    requestId: `req_${from + i}`,
    keyId: null,
    tenant: null,
    route: "/v1/chat/completions",
    model: "m",
    upstream: "up",
    status: 200,
    refusal: null,
    totalUs: 1000,
    upstreamFirstByteUs: 900,
    waf: [],
    rateLimit: null,
    request: [enc.encode(`{"model":"m","n":${from + i}}`)],
    response: [enc.encode('{"choices":[{"message":{"content":"hello there"}}]}')],
    streamed: false,
  }));
}

describe("ledger", () => {
  test("records get sequence numbers, checkpoints verify, proofs check out with an RFC 9162 verifier", async () => {
    const ledger = await openLedger(core, dir, OPTS);
    expect(ledger.append(handOffs(7))).toBe(0);
    expect(ledger.append(handOffs(5, 7))).toBe(7);
    const cp = await ledger.maybeCheckpoint(performance.now()); // 12 ≥ 10 records
    expect(cp?.size).toBe(12);
    const body = parseCheckpoint(await openNote(cp!.note, await parseVerifierKey(ledger.verifierKey)));
    expect(body).toMatchObject({ origin: OPTS.origin, size: 12 });

    const leaf = ledger.record(4);
    expect(decode(leaf)).toMatchObject({ seq: 4, request_id: "req_4", status: 200 });
    const proof = ledger.inclusionProof(4, 12);
    expect(verifyInclusion(sha256, 4, 12, leafHash(sha256, leaf), proof, body.root)).toBe(true);
    expect(verifyInclusion(sha256, 5, 12, leafHash(sha256, leaf), proof, body.root)).toBe(false);

    ledger.append(handOffs(3, 12));
    const cp2 = await ledger.checkpoint();
    const body2 = parseCheckpoint(await openNote(cp2.note, await parseVerifierKey(ledger.verifierKey)));
    expect(verifyConsistency(sha256, 12, 15, body.root, body2.root, ledger.consistencyProof(12, 15))).toBe(true);
    ledger.close();
  });

  test("reopening continues the same log; the signing key persists with mode 0600", async () => {
    const first = await openLedger(core, dir, OPTS);
    first.append(handOffs(4));
    await first.checkpoint();
    const key = first.verifierKey;
    first.close();
    expect(statSync(join(dir, "ledger", "signing.key")).mode & 0o777).toBe(0o600);
    const again = await openLedger(core, dir, OPTS);
    expect(again.verifierKey).toBe(key);
    expect(again.size()).toBe(4);
    expect(again.append(handOffs(1, 4))).toBe(4);
    again.close();
  });

  test("a missing or damaged node file is rebuilt from the WAL, no manual step", async () => {
    const first = await openLedger(core, dir, OPTS);
    first.append(handOffs(20));
    const cp = await first.checkpoint();
    first.close();

    rmSync(join(dir, "ledger", "nodes.mmr"));
    const rebuilt = await openLedger(core, dir, OPTS);
    expect(rebuilt.recovery.mmrReplayed).toBe(20);
    expect(rebuilt.latestCheckpoint()).toEqual(cp);
    rebuilt.close();

    const nodes = join(dir, "ledger", "nodes.mmr");
    const bytes = readFileSync(nodes);
    bytes[100] ^= 0xff; // flip a bit inside a stored hash
    writeFileSync(nodes, bytes);
    const repaired = await openLedger(core, dir, OPTS);
    expect(repaired.recovery.mmrRebuilt).toBe(true);
    repaired.close();
  });

  test("a damaged node file is rebuilt before the first checkpoint too (nothing signed to compare with)", async () => {
    const first = await openLedger(core, dir, OPTS);
    first.append(handOffs(12)); // durable, never checkpointed: a crash before the first one
    first.close();
    const nodes = join(dir, "ledger", "nodes.mmr");
    const bytes = readFileSync(nodes);
    bytes[100] ^= 0xff;
    writeFileSync(nodes, bytes);
    const repaired = await openLedger(core, dir, OPTS);
    expect(repaired.recovery.mmrRebuilt).toBe(true);
    expect(repaired.size()).toBe(12);
    expect(repaired.latestCheckpoint()?.size).toBe(12); // and signed at once
    repaired.close();
  });

  test("records written after the last checkpoint survive a torn node file tail", async () => {
    const first = await openLedger(core, dir, OPTS);
    first.append(handOffs(5));
    await first.checkpoint();
    first.append(handOffs(3, 5)); // durable in the WAL, not yet checkpointed
    first.close();
    const nodes = join(dir, "ledger", "nodes.mmr");
    truncateSync(nodes, statSync(nodes).size - 40);
    const again = await openLedger(core, dir, OPTS);
    expect(again.size()).toBe(8);
    expect(again.latestCheckpoint()?.size).toBe(8); // recovered records are signed at once
    again.close();
  });

  test("a checkpoint line that is not signed by the ledger's key stops the open", async () => {
    const first = await openLedger(core, dir, OPTS);
    first.append(handOffs(2));
    const cp = await first.checkpoint();
    first.close();
    appendFileSync(join(dir, "ledger", "checkpoints.jsonl"), `${JSON.stringify({ size: 2, note: cp.note.replace(/ [A-Za-z0-9+/=]+\n$/, " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n") })}\n`);
    expect(openLedger(core, dir, OPTS)).rejects.toThrow("does not verify");
  });
});

describe("warden verify (offline)", () => {
  test("a clean ledger verifies: records, tree, every checkpoint and their consistency", async () => {
    const ledger = await openLedger(core, dir, OPTS);
    for (let i = 0; i < 5; i++) {
      ledger.append(handOffs(9, i * 9));
      await ledger.checkpoint();
    }
    ledger.close();
    expect(await verifyLedger(core, dir)).toEqual({ ok: true, records: 45, checkpoints: 5 });
  });

  test("a checkpoint signed over a different history is reported", async () => {
    const ledger = await openLedger(core, dir, OPTS);
    ledger.append(handOffs(6));
    await ledger.checkpoint();
    ledger.close();
    // Another ledger with the same key but different records signs size 6: a forked history.
    const other = mkdtempSync(join(tmpdir(), "warden-ledger-fork-"));
    try {
      const key = readFileSync(join(dir, "ledger", "signing.key"), "utf8").trim();
      const fork = await openLedger(core, other, { ...OPTS, signerKey: key });
      fork.append(handOffs(6, 100));
      const forged = await fork.checkpoint();
      fork.close();
      appendFileSync(join(dir, "ledger", "checkpoints.jsonl"), `${JSON.stringify(forged)}\n`);
      const result = await verifyLedger(core, dir);
      expect(result.ok).toBe(false);
      expect(result.problem).toContain("no longer match checkpoint line 2");
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
