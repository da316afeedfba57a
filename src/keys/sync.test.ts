// Key replication against a real redis-server: three instances, each with its own SQLite file
// and its own startKeySync, as three gateways behind one load balancer would run.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, setSystemTime, test } from "bun:test";
import { RedisClient } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis, type RedisServer } from "../../test/setup/redis";
import { createAuthenticator } from "../auth";
import { secretHash } from "./secret";
import { openKeyStore, type KeyStore } from "./store";
import { startKeySync, SYNC_CHANNEL, SYNC_KEYS_HASH, type KeySync, type KeySyncOptions } from "./sync";

interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

interface Instance {
  name: string;
  store: KeyStore;
  sync: KeySync;
  lines: LogLine[];
  /** True if the gateway's authenticator would let this secret in. */
  accepts(secret: string): boolean;
}

let redis: RedisServer;
let admin: RedisClient;
let dir: string;
let running: Instance[] = [];
const extraStores: KeyStore[] = [];

async function instance(name: string, options: Partial<KeySyncOptions> = {}): Promise<Instance> {
  const store = openKeyStore(join(dir, `${name}.db`));
  const lines: LogLine[] = [];
  const sync = await startKeySync(store, { url: redis.url, instanceId: name, log: (level, msg, fields) => void lines.push({ level, msg, fields }), ...options });
  const authenticate = createAuthenticator({ masterKey: "test-master-key", store });
  const accepts = (secret: string) => {
    try {
      return authenticate(new Headers({ authorization: `Bearer ${secret}` })).keyId !== null;
    } catch {
      return false;
    }
  };
  const i = { name, store, sync, lines, accepts };
  running.push(i);
  return i;
}

/** Waits until `done()` holds; returns how long that took in ms. */
async function within(limitMs: number, done: () => boolean | Promise<boolean>): Promise<number> {
  const start = performance.now();
  while (!(await done())) {
    if (performance.now() - start > limitMs) throw new Error(`not done within ${limitMs} ms`);
    await Bun.sleep(2);
  }
  return performance.now() - start;
}

beforeAll(async () => {
  redis = await startRedis();
  admin = new RedisClient(redis.url);
  await admin.connect();
});
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "warden-sync-"));
  if (!admin.connected) await admin.connect();
  await admin.send("FLUSHALL", []);
});
afterEach(async () => {
  setSystemTime();
  await Promise.all(running.map((i) => i.sync.stop()));
  for (const i of running) i.store.close();
  for (const s of extraStores.splice(0)) s.close();
  running = [];
  rmSync(dir, { recursive: true, force: true });
});
afterAll(async () => {
  admin?.close();
  await redis?.stop();
});

describe("replication between three instances", () => {
  test("a key created on A authenticates on B and C within a second; revoked on B, refused on A and C within a second", async () => {
    const [a, b, c] = [await instance("a"), await instance("b"), await instance("c")];
    for (const i of [a, b, c]) expect(await i.sync.ready()).toBe(true);

    const { record, secret } = a.store.createKey({ tenant: "acme", rpm: 60 });
    expect(b.accepts(secret) || c.accepts(secret)).toBe(false);
    const created = await within(1000, () => b.accepts(secret) && c.accepts(secret));
    expect(b.store.lookup(secretHash(secret))).toEqual(a.store.lookup(secretHash(secret)));

    b.store.revokeKey(record.id);
    const revoked = await within(1000, () => !a.accepts(secret) && !c.accepts(secret));
    console.log(`propagation: created on A → accepted on B and C in ${created.toFixed(1)} ms; revoked on B → refused on A and C in ${revoked.toFixed(1)} ms`);
    expect(created).toBeLessThan(1000);
    expect(revoked).toBeLessThan(1000);
    for (const i of [a, b, c]) expect(i.store.getKey(record.id)!.revokedAt).toBe(b.store.getKey(record.id)!.revokedAt);
    for (const i of [a, b, c]) expect(i.sync.status()).toMatchObject({ connected: true, lastSyncMs: expect.any(Number) });
  });

  test("a tenant's limits changed on C reach A; a rotation on A refuses the old secret on B", async () => {
    const [a, b, c] = [await instance("a"), await instance("b"), await instance("c")];
    const { record, secret } = a.store.createKey({ tenant: "acme" });
    await within(1000, () => c.accepts(secret) && b.accepts(secret));

    c.store.putTenant("acme", { rpm: 5, tpm: 500, wafPolicy: { pii: "block" } });
    const tenant = await within(1000, () => a.store.lookup(secretHash(secret))?.tenant?.rpm === 5);
    expect(a.store.getTenant("acme")).toEqual(c.store.getTenant("acme"));

    const rotated = a.store.rotateKey(record.id)!;
    const rotation = await within(1000, () => !b.accepts(secret) && b.accepts(rotated.secret) && !c.accepts(secret));
    console.log(`propagation: tenant limits C → A in ${tenant.toFixed(1)} ms; rotation A → B, C in ${rotation.toFixed(1)} ms`);
  });

  test("a change made by another connection on A's file (the CLI) is picked up and replicated", async () => {
    const [a, b] = [await instance("a"), await instance("b")];
    const cli = openKeyStore(a.store.path);
    extraStores.push(cli);
    const { record, secret } = cli.createKey({ tenant: "acme" });
    // No request reaches A meanwhile: the poll alone must notice the CLI's commit.
    const created = await within(1000, () => b.accepts(secret));
    cli.updateKey(record.id, { enabled: false });
    const disabled = await within(1000, () => !b.accepts(secret));
    console.log(`propagation: CLI on A's file → B in ${created.toFixed(1)} ms (create), ${disabled.toFixed(1)} ms (disable)`);
    expect(a.accepts(secret)).toBe(false);
  });

  test("an instance started later catches up from the hashes", async () => {
    const a = await instance("a");
    const kept = a.store.createKey({ tenant: "acme", models: ["m"] });
    const gone = a.store.createKey({ tenant: "acme" });
    a.store.revokeKey(gone.record.id);
    a.store.putTenant("acme", { maxConcurrent: 2 });
    await within(1000, async () => Number(await admin.send("HLEN", [SYNC_KEYS_HASH])) === 2);

    const d = await instance("d");
    expect(await d.sync.ready()).toBe(true);
    expect(d.accepts(kept.secret)).toBe(true);
    expect(d.accepts(gone.secret)).toBe(false);
    expect(d.store.changedSince(-1)).toEqual(a.store.changedSince(-1));
  });
});

describe("what goes through Redis", () => {
  test("rows carry the secret's SHA-256, never the secret; messages name their sender", async () => {
    const a = await instance("a");
    const listener = new RedisClient(redis.url);
    await listener.connect();
    const messages: string[] = [];
    await listener.subscribe(SYNC_CHANNEL, (m) => void messages.push(m));
    const { record, secret } = a.store.createKey({ tenant: "acme" });
    await within(1000, () => messages.length === 1);
    listener.close();
    const stored = await admin.send("HGET", [SYNC_KEYS_HASH, record.id]);
    expect(JSON.parse(stored)).toEqual(a.store.changedSince(-1).keys[0]);
    expect(JSON.parse(stored).secret_sha256).toBe(secretHash(secret).toString("hex"));
    expect(JSON.parse(messages[0])).toEqual({ from: "a", keys: [JSON.parse(stored)], tenants: [] });
    for (const text of [stored, messages[0]]) expect(text).not.toContain(secret);
  });

  test("changes stamped in one millisecond, or committed after later-stamped ones, all reach the others", async () => {
    const [a, b] = [await instance("a"), await instance("b")];
    const now = Date.now();
    setSystemTime(new Date(now));
    const first = a.store.createKey({ tenant: "acme" });
    await within(1000, () => b.accepts(first.secret));
    const second = a.store.createKey({ tenant: "acme" }); // same updated_at as first
    expect(a.store.getKey(second.record.id)!.updatedAt).toBe(first.record.updatedAt);
    await within(1000, () => b.accepts(second.secret));
    // A writer that took its time before waiting for the lock commits an older stamp.
    setSystemTime(new Date(now - 2000));
    const cli = openKeyStore(a.store.path);
    extraStores.push(cli);
    const late = cli.createKey({ tenant: "acme" });
    await within(1000, () => b.accepts(late.secret));
  });

  test("garbage in the hash or on the channel is skipped with a warning; good rows still flow", async () => {
    await admin.send("HSET", [SYNC_KEYS_HASH, "key_0000000000000001", "not json", "key_0000000000000002", JSON.stringify({ id: "key_0000000000000002", updated_at: 1 })]);
    await admin.send("HSET", ["warden:sync:tenants", "acme", JSON.stringify({ id: "acme", rpm: "lots" })]);
    const [a, b] = [await instance("a"), await instance("b")];
    expect(await b.sync.ready()).toBe(true);
    for (const junk of ["not json", "null", "42", '{"from":"x","keys":"no","tenants":[null, 1, {"id":"bad id"}]}', '{"keys":[{"id":"key_0000000000000003"}]}']) {
      await admin.send("PUBLISH", [SYNC_CHANNEL, junk]);
    }
    const { secret } = a.store.createKey({ tenant: "acme" });
    await within(1000, () => b.accepts(secret));
    expect(b.store.listKeys()).toHaveLength(1);
    expect(b.store.listTenants()).toEqual([]);
    expect(b.sync.status().connected).toBe(true);
    expect(b.lines.some((l) => l.level === "warn" && /skipped/.test(l.msg))).toBe(true);
  });
});

describe("Redis down", () => {
  test("killed: both keep serving; a revocation made meanwhile reaches B once Redis is back, even empty", async () => {
    const [a, b] = [await instance("a"), await instance("b")];
    const { record, secret } = a.store.createKey({ tenant: "acme" });
    await within(1000, () => b.accepts(secret));

    await redis.kill();
    await within(1000, () => !a.sync.status().connected && !b.sync.status().connected);
    a.store.revokeKey(record.id);
    const fresh = a.store.createKey({ tenant: "acme" });
    await Bun.sleep(1500); // several reconnection attempts fail meanwhile
    expect(a.accepts(secret)).toBe(false);
    expect(b.accepts(secret)).toBe(true); // B cannot know yet, and still serves from SQLite
    expect(a.accepts(fresh.secret)).toBe(true);

    await redis.restart();
    if (!admin.connected) await admin.connect();
    const caughtUp = await within(3000, () => !b.accepts(secret) && b.accepts(fresh.secret));
    console.log(`after Redis restarted empty: B refused the key revoked meanwhile ${caughtUp.toFixed(1)} ms after the restart`);
    expect(Number(await admin.send("HLEN", [SYNC_KEYS_HASH]))).toBe(2);
    for (const i of [a, b]) {
      expect(i.sync.status().connected).toBe(true);
      const warnings = i.lines.filter((l) => l.level === "warn");
      expect(warnings).toHaveLength(1); // once per 10 s, however many attempts failed
      expect(warnings[0].msg).toContain("Redis unavailable");
      expect(i.lines.some((l) => l.level === "info" && l.msg.includes("reachable again"))).toBe(true);
      expect(JSON.stringify(i.lines)).not.toContain(secret);
    }
  });

  test("hung (SIGSTOP): nothing waits longer than the timeout, and changes flow again after SIGCONT", async () => {
    const [a, b] = [await instance("a", { timeoutMs: 200 }), await instance("b", { timeoutMs: 200 })];
    redis.pause();
    try {
      const { secret } = a.store.createKey({ tenant: "acme" });
      await within(1000, () => !a.sync.status().connected);
      expect(a.accepts(secret)).toBe(true);
      const t = performance.now();
      const lateStore = openKeyStore(join(dir, "late.db"));
      extraStores.push(lateStore);
      const late = await startKeySync(lateStore, { url: redis.url, timeoutMs: 200, log: () => {} });
      expect(performance.now() - t).toBeLessThan(400);
      expect(late.status().connected).toBe(false);
      await late.stop();
      redis.resume();
      await within(3000, () => b.accepts(secret));
    } finally {
      redis.resume();
    }
  });

  test("unreachable at start: start returns, ready() says false, one warning, keys still work", async () => {
    const store = openKeyStore(join(dir, "alone.db"));
    extraStores.push(store);
    const lines: LogLine[] = [];
    const t = performance.now();
    const sync = await startKeySync(store, { url: "redis://127.0.0.1:1", log: (level, msg, fields) => void lines.push({ level, msg, fields }) });
    expect(performance.now() - t).toBeLessThan(600);
    const r = performance.now();
    expect(await sync.ready()).toBe(false);
    expect(performance.now() - r).toBeLessThan(50); // the attempt failed: no waiting for the next one
    expect(sync.status()).toEqual({ connected: false, lastSyncMs: null });
    const { secret } = store.createKey({ tenant: "acme" });
    expect(store.lookup(secretHash(secret))).not.toBeNull();
    await Bun.sleep(1200);
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(1);
    await sync.stop();
    expect(await sync.ready()).toBe(false);
  });
});

test("no echo: once the instances agree, a quiet second carries no message and no script call", async () => {
  const [a, b, c] = [await instance("a"), await instance("b"), await instance("c")];
  const created = [a, b, c].map((i, n) => i.store.createKey({ tenant: `t${n}` }));
  await within(1000, () => created.every(({ secret }) => a.accepts(secret) && b.accepts(secret) && c.accepts(secret)));
  a.store.putTenant("t0", { rpm: 1 });
  b.store.revokeKey(created[2].record.id);
  c.store.updateKey(created[0].record.id, { rpm: 3 });
  await within(2000, () => {
    const rows = JSON.stringify(a.store.changedSince(-1));
    return rows === JSON.stringify(b.store.changedSince(-1)) && rows === JSON.stringify(c.store.changedSince(-1)) && !c.accepts(created[2].secret);
  });
  await Bun.sleep(300);

  const listener = new RedisClient(redis.url);
  await listener.connect();
  let messages = 0;
  await listener.subscribe(SYNC_CHANNEL, () => void messages++);
  const scripts = async () => {
    const info = String(await admin.send("INFO", ["commandstats"]));
    return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  };
  const before = await scripts();
  await Bun.sleep(1000);
  const after = await scripts();
  listener.close();
  console.log(`quiet second: ${messages} messages, ${after - before} script calls`);
  expect(messages).toBe(0);
  expect(after - before).toBe(0);
});
