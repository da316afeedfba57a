import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watchCommits } from "./commit-watch";

let dir: string;
let path: string;
const open: Database[] = [];

function wal(): Database {
  const db = new Database(path, { create: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("CREATE TABLE IF NOT EXISTS t (v INTEGER)");
  open.push(db);
  return db;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "warden-commit-watch-"));
  path = join(dir, "keys.db");
});
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("watchCommits", () => {
  test("reports a change on the first look, then only after a commit", () => {
    const mine = wal();
    const watch = watchCommits(path);
    expect(watch.changed()).toBe(true);
    expect(watch.changed()).toBe(false);
    mine.query("SELECT count(*) FROM t").get(); // a read is not a commit
    expect(watch.changed()).toBe(false);
    const other = wal();
    other.run("INSERT INTO t VALUES (1)");
    expect(watch.changed()).toBe(true);
    expect(watch.changed()).toBe(false);
    watch.close();
  });

  test("sees every one of many commits by another connection, as data_version does", () => {
    const mine = wal();
    const other = wal();
    const watch = watchCommits(path);
    const version = mine.query<{ data_version: number }, []>("PRAGMA data_version");
    watch.changed();
    let last = version.get()!.data_version;
    for (let i = 0; i < 300; i++) {
      other.run("INSERT INTO t VALUES (?)", [i]);
      const now = version.get()!.data_version;
      expect(now).not.toBe(last); // the exact answer: another connection committed
      expect(watch.changed()).toBe(true);
      last = now;
    }
  });

  test("still sees commits after the WAL is checkpointed and restarted", () => {
    wal();
    const other = wal();
    const watch = watchCommits(path);
    watch.changed();
    for (let i = 0; i < 20; i++) other.run("INSERT INTO t VALUES (?)", [i]);
    other.run("PRAGMA wal_checkpoint(TRUNCATE)");
    watch.changed();
    other.run("INSERT INTO t VALUES (99)"); // the first frame of a restarted WAL
    expect(watch.changed()).toBe(true);
  });

  test("sees a commit made by a separate OS process", () => {
    wal();
    const watch = watchCommits(path);
    watch.changed();
    const script = `const { Database } = require("bun:sqlite"); const db = new Database(${JSON.stringify(path)}); db.run("INSERT INTO t VALUES (7)"); db.close();`;
    const child = Bun.spawnSync([process.execPath, "-e", script], { stderr: "pipe" });
    expect(child.exitCode).toBe(0);
    expect(watch.changed()).toBe(true);
  });

  test("without a -shm file (not WAL mode, or no such database) every look is a change", () => {
    const db = new Database(path, { create: true });
    open.push(db);
    db.run("PRAGMA journal_mode = DELETE");
    db.run("CREATE TABLE t (v INTEGER)");
    const watch = watchCommits(path);
    expect(watch.changed()).toBe(true);
    expect(watch.changed()).toBe(true);
    const missing = watchCommits(join(dir, "nothing.db"));
    expect(missing.changed()).toBe(true);
    expect(missing.changed()).toBe(true);
  });
});
