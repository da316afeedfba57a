/**
 * A full disk and a read-only state directory, for real: the data directory is a small tmpfs
 * mounted for the test (root only; where mounting is not allowed the tests say so and skip).
 *
 * Async mode: the gateway keeps serving, the lost records are counted in the log, and appends
 * resume once there is room again; the ledger still verifies. Strict mode: replies whose record
 * cannot be made durable are 503. A read-only state directory stops start-up with a clear error.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI, { APIError } from "openai";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { installInTempDir, runOnce, startWarden, type Running } from "./binary";

const KEY = "e2e-faults-master-0123456789";

function sh(cmd: string[]): { ok: boolean; err: string } {
  const r = Bun.spawnSync(cmd, { stderr: "pipe" });
  return { ok: r.exitCode === 0, err: r.stderr.toString().trim() };
}

/** A fresh tmpfs of `size` at a new directory, or undefined when this machine does not allow it. */
function mountTmpfs(size: string): string | undefined {
  const at = mkdtempSync(join(tmpdir(), "warden-tmpfs-"));
  if (!sh(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", at]).ok) {
    rmSync(at, { recursive: true, force: true });
    return undefined;
  }
  return at;
}
function unmount(at: string): void {
  sh(["umount", "-l", at]);
  rmSync(at, { recursive: true, force: true });
}

/** Fills the file system holding `dir` up to the last byte. */
function fillDisk(dir: string): string {
  const filler = join(dir, "filler");
  const chunk = new Uint8Array(64 * 1024);
  let written = 0;
  try {
    writeFileSync(filler, new Uint8Array(0));
    for (;;) {
      writeFileSync(filler, chunk, { flag: "a" });
      written += chunk.length;
    }
  } catch {}
  // Whatever is left is smaller than a chunk: take it byte by byte in 4 KiB steps.
  try {
    for (;;) writeFileSync(filler, new Uint8Array(4096), { flag: "a" });
  } catch {}
  expect(written).toBeGreaterThan(0);
  return filler;
}

const probe = mountTmpfs("1m");
if (probe) unmount(probe);
const canMount = probe !== undefined;
if (!canMount) console.warn("ledger-faults: mounting a tmpfs is not allowed here (needs root): full-disk and read-only tests skipped");

let mock: MockUpstream | undefined;
let warden: Running | undefined;
let mount: string | undefined;
afterEach(async () => {
  await warden?.stop(true);
  await mock?.stop();
  if (mount) unmount(mount);
  warden = mock = mount = undefined;
});

async function serving(mode: "async" | "strict"): Promise<{ client: OpenAI; data: string; dir: string }> {
  mock = await startMockUpstream({ port: 0 });
  mount = mountTmpfs("16m")!;
  const data = join(mount, "data");
  const dir = installInTempDir().dir;
  warden = await startWarden(
    { WARDEN_MASTER_KEY: KEY, WARDEN_UPSTREAM_MOCK_URL: mock.url, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt", WARDEN_DATA_DIR: data, WARDEN_AUDIT_MODE: mode, WARDEN_CHECKPOINT_INTERVAL_MS: "200" },
    [],
    dir,
  );
  return { client: new OpenAI({ baseURL: `${warden.url}/v1`, apiKey: KEY, maxRetries: 0 }), data, dir };
}
const ask = (client: OpenAI, content: string) => client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content }] });

/** The ledger's size from its latest checkpoint, once it has reached at least `min`. */
async function ledgerSize(min: number): Promise<number> {
  let size = -1;
  for (let i = 0; i < 100 && size < min; i++) {
    const res = await fetch(`${warden!.url}/v1/audit/checkpoint`, { headers: { authorization: `Bearer ${KEY}` } });
    if (res.ok) size = Number((await res.text()).split("\n")[1]);
    else await res.body?.cancel();
    if (size < min) await Bun.sleep(100);
  }
  return size;
}

describe.skipIf(!canMount)("a full disk", () => {
  test("async mode: replies go on, lost records are counted in the log, appends resume when there is room", async () => {
    const { client, data, dir } = await serving("async");
    await ask(client, "before");
    const before = await ledgerSize(1);
    expect(before).toBeGreaterThanOrEqual(1);

    const filler = fillDisk(mount!);
    for (let i = 0; i < 20; i++) expect((await ask(client, `full ${i}`)).object).toBe("chat.completion");
    for (let i = 0; i < 50 && !warden!.log().includes("audit records could not be written"); i++) await Bun.sleep(100);
    const line = warden!.log().split("\n").find((l) => l.includes("audit records could not be written"))!;
    expect(line).toBeDefined();
    expect(JSON.parse(line).records_lost).toBeGreaterThan(0);
    expect(line).toMatch(/space|ENOSPC|full/i);

    rmSync(filler);
    await ask(client, "after");
    expect(await ledgerSize(before + 1)).toBeGreaterThan(before);
    expect(await warden!.stop(true)).toBe(0);
    warden = undefined;
    const verified = await runOnce(["verify", "--data-dir", data], {}, 60_000, dir);
    expect(verified.code).toBe(0);
  }, 60_000);

  test("strict mode: a reply whose record cannot be made durable is 503 audit_unavailable; with room again, 200", async () => {
    const { client } = await serving("strict");
    await ask(client, "before");
    const filler = fillDisk(mount!);
    // Records still fit in the WAL segment's space already allocated on disk; once a write
    // needs more, the reply that waits for it gets 503 instead.
    const served: string[] = [];
    let e: APIError | undefined;
    for (let i = 0; i < 2000 && e === undefined; i++) {
      e = await ask(client, `full ${i}`).withResponse().then(
        (r) => void served.push(r.response.headers.get("x-request-id")!),
        (err) => err as APIError,
      );
    }
    expect(e).toBeInstanceOf(APIError);
    expect(e!.status).toBe(503);
    expect(e!.code).toBe("audit_unavailable");
    rmSync(filler);
    expect((await ask(client, "after")).object).toBe("chat.completion");
    // Every reply that was delivered has its record in the ledger.
    const size = await ledgerSize(served.length + 2);
    const ids = new Set<string>();
    for (let seq = 0; seq < size; seq++) {
      const res = await fetch(`${warden!.url}/v1/audit/records/${seq}`, { headers: { authorization: `Bearer ${KEY}` } });
      ids.add((await res.json()).request_id);
    }
    expect(served.filter((id) => !ids.has(id))).toEqual([]);
  }, 60_000);
});

describe.skipIf(!canMount)("a read-only state directory", () => {
  test("stops start-up with exit 1 and a message naming the problem", async () => {
    mock = await startMockUpstream({ port: 0 });
    mount = mountTmpfs("16m")!;
    const data = join(mount, "data");
    const dir = installInTempDir().dir;
    // A state directory that has served once, then comes back read-only.
    const env = { WARDEN_MASTER_KEY: KEY, WARDEN_UPSTREAM_MOCK_URL: mock.url, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt", WARDEN_DATA_DIR: data };
    const first = await startWarden(env, [], dir);
    expect(await first.stop(true)).toBe(0);
    const remount = sh(["mount", "-o", "remount,ro", mount]);
    expect(remount).toEqual({ ok: true, err: "" });

    const r = await runOnce(["serve"], { ...env, WARDEN_PORT: "0" }, 20_000, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/read-only/i);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  }, 60_000);
});
