/**
 * The audit ledger through the compiled binary: what a third party can check, strict mode,
 * and kill -9 at random moments under load.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import OpenAI from "openai";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { openNote, parseCheckpoint, parseVerifierKey } from "../../src/audit/note";
import { leafHash, verifyInclusion } from "../../src/audit/proof";
import { runOnce, startWarden, type Running } from "./binary";

const KEY = "e2e-ledger-master-key-0123456789";
const sha256 = (d: Uint8Array) => new Bun.CryptoHasher("sha256").update(d).digest() as Uint8Array;
const auth = { authorization: `Bearer ${KEY}` };

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream({ port: 0, record: false });
});
afterAll(async () => {
  await mock.stop();
});

function upstreamEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    WARDEN_UPSTREAM_MOCK_URL: mock.url,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt",
    WARDEN_MASTER_KEY: KEY,
    WARDEN_CHECKPOINT_INTERVAL_MS: "200",
    ...extra,
  };
}

async function json(w: Running, path: string) {
  const res = await fetch(`${w.url}${path}`, { headers: auth });
  expect(res.status).toBe(200);
  return res.json() as Promise<any>;
}

async function checkpointAtLeast(w: Running, size: number): Promise<string> {
  const until = Date.now() + 5000;
  for (;;) {
    const res = await fetch(`${w.url}/v1/audit/checkpoint`, { headers: auth });
    if (res.status === 200) {
      const note = await res.text();
      if (Number(note.split("\n")[1]) >= size) return note;
    }
    if (Date.now() > until) throw new Error(`no checkpoint of size ≥ ${size} within 5 s`);
    await Bun.sleep(50);
  }
}

describe("the ledger, as a third party checks it", () => {
  test("served and refused requests are recorded; checkpoints verify with the published key; proofs check out", async () => {
    const w = await startWarden(upstreamEnv());
    try {
      const client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: KEY, maxRetries: 0 });
      await client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "one" }] });
      const stream = await client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "two" }], stream: true });
      for await (const _ of stream);
      await client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "four" }] }).catch(() => {});
      const sent = '{"model":"mock-gpt","messages":[{"role":"user","content":"three"}]}';
      await (await fetch(`${w.url}/v1/chat/completions`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: sent })).text();
      await fetch(`${w.url}/v1/chat/completions`, { method: "POST", body: "{}" }); // no key: refused by auth

      const note = await checkpointAtLeast(w, 5);
      const { stdout } = await runOnce(["version"], { WARDEN_DATA_DIR: `${w.dir}/warden-data` }, 15_000, w.dir);
      const verifierKey = /^ledger-key (\S+)$/m.exec(stdout)![1];
      const cp = parseCheckpoint(await openNote(note, await parseVerifierKey(verifierKey)));
      expect(cp.origin).toBe("warden.local/ledger");

      const records = [];
      for (let seq = 0; seq < 5; seq++) {
        const res = await fetch(`${w.url}/v1/audit/records/${seq}`, { headers: auth });
        const leaf = new Uint8Array(await res.arrayBuffer());
        const proof = await json(w, `/v1/audit/proof/inclusion?seq=${seq}&size=${cp.size}`);
        expect(proof.leaf_hash).toBe(Buffer.from(leafHash(sha256, leaf)).toString("hex"));
        const path = proof.proof.map((h: string) => Uint8Array.from(Buffer.from(h, "hex")));
        expect(verifyInclusion(sha256, seq, cp.size, leafHash(sha256, leaf), path, cp.root)).toBe(true);
        records.push(JSON.parse(new TextDecoder().decode(leaf)));
      }
      expect(records.map((r) => [r.seq, r.status, r.refusal?.code ?? null])).toEqual([
        [0, 200, null],
        [1, 200, null],
        [2, 404, "model_not_found"],
        [3, 200, null],
        [4, 401, "missing_api_key"],
      ]);
      expect(records[1].analysis.content_bytes).toBeGreaterThan(0);
      expect(records[3].request_sha256).toBe(new Bun.CryptoHasher("sha256").update(sent).digest("hex"));
      expect(records[0].usage).toEqual({ completion_tokens: 16, prompt_tokens: 1 });
      expect(JSON.stringify(records)).not.toContain(KEY);

      const later = parseCheckpoint(await openNote(await checkpointAtLeast(w, 5), await parseVerifierKey(verifierKey)));
      const consistency = await json(w, `/v1/audit/proof/consistency?from=2&to=${later.size}`);
      expect(consistency.proof.length).toBeGreaterThan(0);
    } finally {
      await w.stop();
    }
  });

  test("the audit endpoints need the admin key and answer bad input with 400/404", async () => {
    const w = await startWarden(upstreamEnv());
    try {
      expect((await fetch(`${w.url}/v1/audit/checkpoint`)).status).toBe(401);
      expect((await fetch(`${w.url}/v1/audit/records/abc`, { headers: auth })).status).toBe(400);
      expect((await fetch(`${w.url}/v1/audit/records/999`, { headers: auth })).status).toBe(404);
      expect((await fetch(`${w.url}/v1/audit/proof/inclusion?seq=0`, { headers: auth })).status).toBe(400);
      expect((await fetch(`${w.url}/v1/audit/proof/consistency?from=5&to=1`, { headers: auth })).status).toBe(404);
    } finally {
      await w.stop();
    }
  });
});

describe("crash safety", () => {
  test("kill -9 under load, 50 times: every restart opens the ledger unaided, strict-mode acknowledgements are all in it, and it verifies", async () => {
    const w0 = await startWarden(upstreamEnv({ WARDEN_AUDIT_MODE: "strict" }));
    const dir = w0.dir;
    await w0.stop(true);
    const acknowledged = new Set<string>();
    let w: Running | undefined;
    try {
      for (let cycle = 0; cycle < 50; cycle++) {
        w = await startWarden(upstreamEnv({ WARDEN_AUDIT_MODE: "strict" }), [], dir);
        const url = w.url;
        let stop = false;
        const load = Array.from({ length: 8 }, async () => {
          while (!stop) {
            try {
              const res = await fetch(`${url}/v1/chat/completions`, {
                method: "POST",
                headers: { ...auth, "content-type": "application/json" },
                body: '{"model":"mock-gpt","messages":[{"role":"user","content":"x"}],"mock":{"tokens":4}}',
              });
              const id = res.headers.get("x-request-id");
              await res.text();
              if (res.status === 200 && id) acknowledged.add(id);
            } catch {
              // the process died under us: that request was never acknowledged
            }
          }
        });
        await Bun.sleep(30 + Math.floor(Math.random() * 120));
        await w.kill9();
        stop = true;
        await Promise.all(load);
      }
      // A last clean start proves the ledger opens; then check every acknowledged request is in it.
      w = await startWarden(upstreamEnv(), [], dir);
      const size = Number((await checkpointAtLeast(w, 1)).split("\n")[1]);
      await w.stop(true);
      w = undefined;
      const verified = await runOnce(["verify", "--data-dir", `${dir}/warden-data`], {}, 60_000, dir);
      expect(verified.stderr).toBe("");
      expect(verified.code).toBe(0);
      const total = Number(/ledger OK: (\d+) records/.exec(verified.stdout)![1]);
      expect(total).toBeGreaterThanOrEqual(size);
      expect(acknowledged.size).toBeGreaterThan(50);

      // Read the ledger back through a server and look for every acknowledged request id.
      w = await startWarden(upstreamEnv(), [], dir);
      const ids = new Set<string>();
      for (let seq = 0; seq < total; seq++) {
        const res = await fetch(`${w.url}/v1/audit/records/${seq}`, { headers: auth });
        ids.add(JSON.parse(await res.text()).request_id);
      }
      const missing = [...acknowledged].filter((id) => !ids.has(id));
      expect(missing).toEqual([]);
    } finally {
      if (w) await w.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

describe("several instances, one verify", () => {
  test("each instance's ledger under its own origin; warden verify checks them all and refuses a shared origin", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(`${tmpdir()}/warden-verify-many-`);
    const dirs: string[] = [];
    try {
      for (const origin of ["ledger.example.com/warden-1", "ledger.example.com/warden-2"]) {
        const dataDir = `${dir}/${origin.slice(-8)}`;
        const w = await startWarden(upstreamEnv({ WARDEN_DATA_DIR: dataDir, WARDEN_LEDGER_ORIGIN: origin }), [], dir);
        for (let i = 0; i < 3; i++) await (await fetch(`${w.url}/v1/chat/completions`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }] }) })).text();
        await checkpointAtLeast(w, 3);
        await w.stop(true);
        dirs.push(dataDir);
      }
      const both = await runOnce(["verify", "--data-dir", dirs[0], "--data-dir", dirs[1]], {}, 60_000, dir);
      expect(both.code).toBe(0);
      expect(both.stdout).toContain("origin ledger.example.com/warden-1)");
      expect(both.stdout.match(/ledger OK: 3 records/g)?.length).toBe(2);
      expect(both.stdout).toContain("origin ledger.example.com/warden-2");

      // A third instance that reused an origin: auditors could not tell its checkpoints apart.
      const copy = `${dir}/copy`;
      await Bun.$`cp -r ${dirs[0]} ${copy}`.quiet();
      const shared = await runOnce(["verify", "--data-dir", dirs[0], "--data-dir", copy], {}, 60_000, dir);
      expect(shared.code).toBe(1);
      expect(shared.stderr).toContain("share the origin ledger.example.com/warden-1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
