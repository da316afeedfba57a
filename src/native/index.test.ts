import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERR_PANIC, extractLibrary, loadCore } from "./index";

const cargoVersion = readFileSync(join(import.meta.dir, "../../ffi/Cargo.toml"), "utf8").match(/^version = "(.+)"/m)![1];

describe("native core", () => {
  test("extracts into the data dir and reports the crate version through FFI", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-native-"));
    try {
      const core = await loadCore(dir);
      expect(core.path.startsWith(join(dir, "lib"))).toBe(true);
      expect(core.version).toBe(cargoVersion);
      expect(core.sha256).toMatch(/^[0-9a-f]{64}$/);
      core.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a same-size file with other content is replaced, never dlopened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-native-"));
    try {
      const { path } = await extractLibrary(dir);
      const good = readFileSync(path);
      rmSync(path);
      writeFileSync(path, Buffer.alloc(good.length, 0x90));
      const again = await extractLibrary(dir);
      expect(again.path).toBe(path);
      expect(readFileSync(path).equals(good)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a panic inside Rust comes back as an error code instead of aborting", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-native-"));
    try {
      const core = await loadCore(dir);
      expect(core.selftestPanic()).toBe(ERR_PANIC);
      expect(core.version).toBe(cargoVersion); // the process and library are still usable
      core.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
