/**
 * Builds the single executable `dist/warden`:
 *   1. the Rust core (ffi/, cargo --release) → libwarden_core.so
 *   2. `bun build --compile` of src/main.ts, with the audit worker as an extra entry point and
 *      the library embedded; its SHA-256 is baked in so the binary can check what it extracts.
 *
 * Run: `bun build.ts` (the npm scripts do this for you).
 * The flags come from measurements on Bun 1.4.5 (see shared DESIGN.md): `--format=esm` keeps
 * `--bytecode` from baking this machine's paths into `new Worker(new URL(...))`, and the
 * autoload flags stop the binary from reading a `.env` or `bunfig.toml` in whatever directory
 * it is started from.
 */
import { $ } from "bun";
import { mkdirSync } from "node:fs";

const root = import.meta.dir;
const library = `${root}/ffi/target/release/libwarden_core.so`;

async function main(): Promise<void> {
  const t0 = performance.now();
  await $`cargo build --release --quiet --manifest-path ${root}/ffi/Cargo.toml`;
  const sha256 = new Bun.CryptoHasher("sha256").update(await Bun.file(library).arrayBuffer()).digest("hex");

  mkdirSync(`${root}/dist`, { recursive: true });
  const args = [
    "build", "--compile", `${root}/src/main.ts`, `${root}/src/audit/worker.ts`,
    "--outfile", `${root}/dist/warden`,
    "--minify-whitespace", "--minify-syntax", "--bytecode", "--format=esm",
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    "--define", `WARDEN_CORE_SHA256=${JSON.stringify(sha256)}`,
    // Relative to the bundle root, which Bun takes as the entry points' common folder (src/);
    // the e2e tests fail at once if the worker cannot be found.
    "--define", `WARDEN_AUDIT_WORKER=${JSON.stringify("./audit/worker.ts")}`,
  ];
  await $`${process.execPath} ${args}`.quiet();

  const size = Bun.file(`${root}/dist/warden`).size;
  console.log(`built dist/warden (${(size / 1048576).toFixed(1)} MiB, core sha256 ${sha256.slice(0, 16)}…) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

await main();
