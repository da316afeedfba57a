import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ENCODING_NAMES, getEncoding, isEncodingLoaded, preloadEncodings } from "./encodings.ts";

const BUN = process.execPath;
const INDEX = resolve(import.meta.dir, "index.ts");
const scratch = mkdtempSync(join(tmpdir(), "warden-tokens-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An entry that reports which encodings are loaded before and after counting one text. */
function writeProbe(): string {
  const entry = join(scratch, "probe.ts");
  writeFileSync(
    entry,
    `import { countText, isEncodingLoaded, ENCODING_NAMES } from ${JSON.stringify(INDEX)};
const loaded = () => ENCODING_NAMES.filter(isEncodingLoaded).join(",");
const before = loaded();
const tokens = countText("gpt-4", "hello world");
console.log(JSON.stringify({ before, tokens, after: loaded(), o200k: countText("gpt-4o", "tiktoken is great!") }));
`,
  );
  return entry;
}

describe("loading", () => {
  test("each encoding is built once and then reused", () => {
    expect(getEncoding("cl100k_base")).toBe(getEncoding("cl100k_base"));
  });

  test("preloadEncodings builds every encoding", () => {
    preloadEncodings();
    for (const name of ENCODING_NAMES) expect(isEncodingLoaded(name)).toBe(true);
  });

  test("nothing loads at import; counting loads only the encoding it needs", () => {
    const run = Bun.spawnSync([BUN, writeProbe()], { cwd: scratch, stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    const probe = JSON.parse(run.stdout.toString());
    expect(probe.before).toBe("");
    expect(probe.after).toBe("cl100k_base");
    expect(probe.tokens).toBe(2);
  });

  test("a `bun build --compile` binary counts with the embedded ranks, from any directory", () => {
    const binary = join(scratch, "probe-bin");
    const build = Bun.spawnSync(
      [BUN, "build", "--compile", "--minify-syntax", "--bytecode", "--format=esm", writeProbe(), "--outfile", binary],
      { stderr: "pipe", stdout: "pipe" },
    );
    expect(build.exitCode).toBe(0);
    const run = Bun.spawnSync([binary], { cwd: "/", env: {}, stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    expect(JSON.parse(run.stdout.toString())).toEqual({ before: "", tokens: 2, after: "cl100k_base", o200k: 6 });
  });
});
