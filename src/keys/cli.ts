/**
 * `warden keys …` and `warden tenants …`: manage virtual keys and tenants from a shell, on the
 * same database the gateway uses. A running gateway sees every change from its next request on.
 *
 * The database is found the way `serve` finds its state: `--data-dir DIR`, else
 * WARDEN_DATA_DIR (or $STATE_DIRECTORY) from the environment and the env file (`--env-file`,
 * $WARDEN_ENV_FILE, ./warden.env, /etc/warden/warden.env).
 *
 * Output is JSON on stdout, in the admin API's shapes. Exit codes: 0 ok, 1 no such key or
 * tenant (or the database cannot be opened), 2 bad usage or a setting that breaks the rules.
 *
 * @example
 * const code = runKeysCli(["keys", "create", "--tenant", "acme", "--rpm", "60"], { env: process.env, out, err });
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError, loadConfig, loadEnv } from "../config";
import { GatewayError } from "../errors";
import { KEYS_DB, KeyStoreError, openKeyStore, type KeyStore } from "./store";
import type { KeySettings, TenantSettings, WafAction } from "./types";
import { parseExpiry } from "./validate";
import { keyWithSecret, shownKey, shownKeys, shownTenant, shownTenants } from "./view";

export const KEYS_USAGE = `  keys create --tenant T [SETTINGS]
                            create a virtual key; prints it ONCE (store it now)
  keys list [--tenant T]    list keys (never their secrets)
  keys get ID               show one key
  keys update ID [SETTINGS] [--enable | --disable]
                            change a key's settings ("none" clears a limit or a map,
                            --models all, --expires never); applies from the next request
  keys revoke ID            revoke a key for good, at once
  keys rotate ID            give a key a new secret (printed once); the old one stops working
  tenants set ID [--rpm N] [--tpm N] [--max-concurrent N] [--budget USD] [--metadata K=V]...
                 [--policy RULE=ACTION]...
                            create or replace a tenant's limits
  tenants list | tenants get ID

  SETTINGS: --name N  --models a,b  --rpm N  --tpm N  --max-concurrent N  --budget USD
            --expires 2026-12-31|2026-12-31T18:00:00Z|30d|12h  --metadata K=V (repeat)
            --policy RULE=ACTION (repeat; RULE * | injection | pii | secret | pii.email ...,
            ACTION block | redact | flag | off); --metadata / --policy replace the whole map
  Keys and tenants commands take --data-dir DIR or --env-file PATH to find the database.`;

export interface CliIO {
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
}

class UsageError extends Error {}
class NotFound extends Error {}

const SETTING_FLAGS = ["--name", "--models", "--rpm", "--tpm", "--max-concurrent", "--budget", "--expires", "--metadata", "--policy"];
const TENANT_FLAGS = ["--rpm", "--tpm", "--max-concurrent", "--budget", "--metadata", "--policy"];
const REPEATABLE = new Set(["--metadata", "--policy"]);
const SWITCHES = new Set(["--enable", "--disable"]);
const WHERE_FLAGS = ["--data-dir", "--env-file"];

interface Args {
  positional: string[];
  flags: Map<string, string[]>;
}

/** `--flag value`, `--flag=value` and bare switches; anything not in `allowed` is a usage error. */
function parseArgs(args: string[], allowed: string[]): Args {
  const known = new Set([...allowed, ...WHERE_FLAGS]);
  const out: Args = { positional: [], flags: new Map() };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq < 0 ? a : a.slice(0, eq);
    if (!known.has(name)) throw new UsageError(`unknown option ${name}`);
    let value: string;
    if (SWITCHES.has(name)) {
      if (eq >= 0) throw new UsageError(`${name} takes no value`);
      value = "";
    } else if (eq >= 0) {
      value = a.slice(eq + 1);
    } else {
      if (i + 1 >= args.length || args[i + 1].startsWith("--")) throw new UsageError(`${name} needs a value`);
      value = args[++i];
    }
    const seen = out.flags.get(name) ?? [];
    if (seen.length > 0 && !REPEATABLE.has(name)) throw new UsageError(`${name} given twice`);
    out.flags.set(name, [...seen, value]);
  }
  return out;
}

const one = (a: Args, name: string) => a.flags.get(name)?.[0];

function wholeNumber(a: Args, flag: string): number | null | undefined {
  const v = one(a, flag);
  if (v === undefined) return undefined;
  if (v === "none") return null;
  if (!/^\d{1,13}$/.test(v)) throw new UsageError(`${flag} needs a whole number (or none), got ${JSON.stringify(v)}`);
  return Number(v);
}

function dollars(a: Args): number | null | undefined {
  const v = one(a, "--budget");
  if (v === undefined) return undefined;
  if (v === "none") return null;
  if (!/^\d{1,13}(\.\d{1,6})?$/.test(v)) throw new UsageError(`--budget needs an amount in US dollars such as 25 or 12.50 (or none), got ${JSON.stringify(v)}`);
  return Number(v);
}

/** Repeated `K=V` flags → a map; `none` → empty map. */
function pairs(a: Args, flag: string): Record<string, string> | undefined {
  const all = a.flags.get(flag);
  if (all === undefined) return undefined;
  const map: Record<string, string> = {};
  for (const p of all) {
    if (p === "none" && all.length === 1) return {};
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} needs KEY=VALUE, got ${JSON.stringify(p)}`);
    map[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return map;
}

function keySettings(a: Args): KeySettings {
  const s: KeySettings = {};
  const name = one(a, "--name");
  if (name !== undefined) s.name = name === "" ? null : name;
  const models = one(a, "--models");
  if (models !== undefined) s.models = models === "all" ? null : models.split(",").map((m) => m.trim()).filter(Boolean);
  const expires = one(a, "--expires");
  if (expires !== undefined) {
    const ms = expires === "never" ? null : parseExpiry(expires);
    if (ms === undefined) throw new UsageError(`--expires needs a date (2026-12-31), a date-time with zone (2026-12-31T18:00:00Z), a duration (30d, 12h) or never, got ${JSON.stringify(expires)}`);
    s.expiresAt = ms;
  }
  if (a.flags.has("--enable") && a.flags.has("--disable")) throw new UsageError("--enable and --disable contradict each other");
  if (a.flags.has("--enable")) s.enabled = true;
  if (a.flags.has("--disable")) s.enabled = false;
  return { ...s, ...limits(a) };
}

function limits(a: Args): TenantSettings {
  const s: TenantSettings = {};
  const set = <K extends keyof TenantSettings>(k: K, v: TenantSettings[K] | undefined) => {
    if (v !== undefined) s[k] = v;
  };
  set("rpm", wholeNumber(a, "--rpm"));
  set("tpm", wholeNumber(a, "--tpm"));
  set("maxConcurrent", wholeNumber(a, "--max-concurrent"));
  set("maxBudgetUsd", dollars(a));
  set("metadata", pairs(a, "--metadata"));
  set("wafPolicy", pairs(a, "--policy") as Record<string, WafAction> | undefined);
  return s;
}

/** keys.db as `serve` would find it; `create` may make it, everything else needs it to exist. */
function databasePath(a: Args, env: CliIO["env"]): string {
  const dataDir = one(a, "--data-dir");
  if (dataDir !== undefined) return join(resolve(dataDir), KEYS_DB);
  try {
    const { env: merged } = loadEnv(env, one(a, "--env-file"));
    return join(loadConfig(merged).dataDir, KEYS_DB);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`configuration error: ${e.message}`);
    throw e;
  }
}

/**
 * Root writing into the service user's data directory would leave root-owned files there
 * (the database, or SQLite's -wal and -shm files) that lock the gateway out.
 */
function refuseForeignDirectoryAsRoot(dir: string): void {
  if (process.getuid?.() !== 0 || !existsSync(dir)) return;
  const owner = statSync(dir).uid;
  if (owner !== 0) {
    throw new KeyStoreError(`${dir} belongs to uid ${owner}: run this as that user (for example sudo -u warden warden keys ...), not as root`);
  }
}

function openStore(path: string, create: boolean, io: CliIO): KeyStore {
  refuseForeignDirectoryAsRoot(dirname(path));
  if (!existsSync(path)) {
    if (!create) throw new KeyStoreError(`no key database at ${path}: check --data-dir, --env-file or WARDEN_DATA_DIR`);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // A typo in the data directory would otherwise make keys the gateway never sees.
    io.err(`warden: creating a new key database at ${path}; serve must use the same data directory (WARDEN_DATA_DIR)\n`);
  }
  return openKeyStore(path);
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/**
 * A subcommand checks its arguments in `prepare` (usage errors before any file is touched) and
 * returns the work to do on the opened store.
 */
interface Command {
  flags: string[];
  /** Positional ids it takes. */
  ids: 0 | 1;
  /** May create the database (everything else needs an existing one). */
  creates: boolean;
  prepare(a: Args, id: string): (store: KeyStore, io: CliIO) => void;
}

function found<T>(value: T | null, what: string, id: string): T {
  if (value === null) throw new NotFound(`no ${what} with id ${id}`);
  return value;
}

function shownOnce(io: CliIO, id: string, path: string): void {
  io.err(`warden: key ${id} saved in ${path}. This is the only time its secret is shown: store it now.\n`);
}

const COMMANDS: Record<string, Record<string, Command>> = {
  keys: {
    create: {
      flags: [...SETTING_FLAGS, "--tenant", "--disable"],
      ids: 0,
      creates: true,
      prepare(a) {
        const tenant = one(a, "--tenant");
        if (tenant === undefined) throw new UsageError("keys create needs --tenant T");
        const settings = keySettings(a);
        return (store, io) => {
          const { record, secret } = store.createKey({ tenant, ...settings });
          io.out(json(keyWithSecret(record, secret)));
          shownOnce(io, record.id, store.path);
        };
      },
    },
    list: {
      flags: ["--tenant"],
      ids: 0,
      creates: false,
      prepare: (a) => (store, io) => io.out(json(shownKeys(store, store.listKeys({ tenant: one(a, "--tenant") })))),
    },
    get: {
      flags: [],
      ids: 1,
      creates: false,
      prepare: (_, id) => (store, io) => io.out(json(shownKey(store, found(store.getKey(id), "key", id)))),
    },
    update: {
      flags: [...SETTING_FLAGS, "--enable", "--disable"],
      ids: 1,
      creates: false,
      prepare(a, id) {
        const changes = keySettings(a);
        if (Object.keys(changes).length === 0) throw new UsageError("keys update needs at least one setting to change");
        return (store, io) => io.out(json(shownKey(store, found(store.updateKey(id, changes), "key", id))));
      },
    },
    revoke: {
      flags: [],
      ids: 1,
      creates: false,
      prepare: (_, id) => (store, io) => io.out(json(shownKey(store, found(store.revokeKey(id), "key", id)))),
    },
    rotate: {
      flags: [],
      ids: 1,
      creates: false,
      prepare: (_, id) => (store, io) => {
        const { record, secret } = found(store.rotateKey(id), "key", id);
        io.out(json(keyWithSecret(record, secret, store.spentMicros("key", id))));
        shownOnce(io, record.id, store.path);
      },
    },
  },
  tenants: {
    set: {
      flags: TENANT_FLAGS,
      ids: 1,
      creates: true,
      prepare(a, id) {
        const settings = limits(a);
        return (store, io) => io.out(json(shownTenant(store, store.putTenant(id, settings))));
      },
    },
    list: {
      flags: [],
      ids: 0,
      creates: false,
      prepare: () => (store, io) => io.out(json(shownTenants(store, store.listTenants()))),
    },
    get: {
      flags: [],
      ids: 1,
      creates: false,
      prepare: (_, id) => (store, io) => io.out(json(shownTenant(store, found(store.getTenant(id), "tenant", id)))),
    },
  },
};

/**
 * Runs `keys …` or `tenants …` (argv after `warden`) and returns the exit code.
 * Writes nothing but JSON to `out`; messages go to `err`.
 */
export function runKeysCli(argv: string[], io: CliIO): number {
  const [group, sub, ...rest] = argv;
  const command = COMMANDS[group]?.[sub];
  let store: KeyStore | undefined;
  try {
    if (command === undefined) {
      throw new UsageError(sub === undefined ? `${group} needs a subcommand` : `unknown subcommand: ${group} ${sub}`);
    }
    const args = parseArgs(rest, command.flags);
    if (args.positional.length !== command.ids) {
      throw new UsageError(command.ids === 1 ? `${group} ${sub} needs exactly one id` : `unexpected argument ${args.positional[0]}`);
    }
    const work = command.prepare(args, args.positional[0]);
    store = openStore(databasePath(args, io.env), command.creates, io);
    work(store, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`warden: ${e.message}\nusage:\n${KEYS_USAGE}\n`);
      return 2;
    }
    if (e instanceof GatewayError) {
      // The store's own rules (400) are a usage problem; anything else (a revoked key, 409) is not.
      io.err(`warden: ${e.param ? `${e.param}: ` : ""}${e.message}\n`);
      return e.status === 400 ? 2 : 1;
    }
    if (e instanceof NotFound || e instanceof KeyStoreError) {
      io.err(`warden: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    store?.close();
  }
}
