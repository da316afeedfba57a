/**
 * A Bun macro that bundles the dashboard's browser script (client/main.ts, with
 * src/audit/proof.ts and @noble/hashes) into one ES module, as a string.
 *
 * Imported `with { type: "macro" }`, it runs while Bun transpiles src/dashboard/index.ts: under
 * `bun build --compile` (build.ts) the string is inlined into the executable, so the binary
 * carries the script and needs neither the sources nor node_modules; under `bun test` it runs
 * at load time. Bun.build cannot be called from inside a macro (the bundler would wait on
 * itself), so it runs `bun build` as a child process — the path Bun's own error message points
 * to.
 *
 * @example
 * import { browserBundle } from "./bundle" with { type: "macro" };
 * const script: string = browserBundle();
 */
export function browserBundle(): string {
  const entry = `${import.meta.dir}/client/main.ts`;
  const result = Bun.spawnSync([process.execPath, "build", entry, "--target=browser", "--format=esm", "--minify"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (result.exitCode !== 0) throw new Error(`bundling the dashboard script failed:\n${result.stderr.toString()}`);
  return result.stdout.toString();
}
