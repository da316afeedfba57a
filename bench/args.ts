/** The command line the single-stage benchmarks share: `bun bench/<name>.ts [--out PATH] [--quick]`. */
import { join, resolve } from "node:path";

/**
 * Parses `--out PATH` and `--quick`; the default report is bench/results/<date>-<name>[-quick].md.
 * Exits 2 with a usage line on anything else.
 *
 * @example
 * const { out, quick } = benchArgs("waf");
 */
export function benchArgs(name: string): { out: string; quick: boolean } {
  const usage = (message?: string): never => {
    if (message) console.error(`bench/${name}.ts: ${message}`);
    console.error(`usage: bun bench/${name}.ts [--out PATH] [--quick]`);
    process.exit(2);
  };
  let out: string | undefined;
  let quick = false;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--out":
        out = argv[++i] ?? usage("--out needs a path");
        break;
      case "--quick":
        quick = true;
        break;
      case "-h":
      case "--help":
        usage();
      default:
        usage(`unknown argument: ${argv[i]}`);
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  return { out: resolve(out ?? join(import.meta.dir, "results", `${date}-${name}${quick ? "-quick" : ""}.md`)), quick };
}
