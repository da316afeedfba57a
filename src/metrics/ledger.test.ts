/** What the ledger reports for the metrics (src/audit/ledger.ts): WAL fsync times, checkpoint time. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLedger, type LedgerOptions } from "../audit/ledger";
import type { HandOff } from "../audit/record";
import { core } from "../../test/support/core";

const OPTS: LedgerOptions = { origin: "metrics.example/ledger", checkpointEveryRecords: 1000, checkpointEveryMs: 60_000 };
const enc = new TextEncoder();
let dir: string;
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), "warden-metrics-ledger-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function handOffs(n: number): HandOff[] {
  return Array.from({ length: n }, (_, i) => ({
    time: Date.now(), requestId: `req_${i}`, keyId: null, tenant: null, route: "/v1/chat/completions", model: "m", upstream: "up",
    status: 200, refusal: null, totalUs: 1000, upstreamFirstByteUs: 900, waf: [], rateLimit: null,
    request: [enc.encode("{}")], response: [enc.encode("{}")], streamed: false,
  }));
}

test("one fsync timing per appended batch, whatever its size", async () => {
  const syncs: number[] = [];
  const ledger = await openLedger(core, dir, { ...OPTS, onWalSync: (s) => syncs.push(s) });
  ledger.append(handOffs(1));
  ledger.append(handOffs(50));
  expect(syncs).toHaveLength(2);
  for (const s of syncs) {
    expect(s).toBeGreaterThan(0);
    expect(s).toBeLessThan(5);
  }
  ledger.close();
});

test("the latest checkpoint's time: none before the first, the signing time after, the log's mtime after a restart", async () => {
  const ledger = await openLedger(core, dir, OPTS);
  expect(ledger.latestCheckpointTime()).toBeUndefined();
  ledger.append(handOffs(3));
  const before = Date.now();
  await ledger.checkpoint();
  const signedAt = ledger.latestCheckpointTime()!;
  expect(signedAt).toBeGreaterThanOrEqual(before);
  expect(signedAt).toBeLessThanOrEqual(Date.now());
  ledger.close();

  // Checkpoints hold no time: a reopened ledger dates its last one by the checkpoint log's mtime.
  const log = join(dir, "ledger", "checkpoints.jsonl");
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(log, past, past);
  const reopened = await openLedger(core, dir, OPTS);
  expect(reopened.latestCheckpointTime()).toBe(statSync(log).mtimeMs);
  expect(Date.now() - reopened.latestCheckpointTime()!).toBeGreaterThanOrEqual(3_599_000);
  reopened.close();
});
