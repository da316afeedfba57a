/**
 * The TypeScript side of the FFI boundary: loads Warden's Rust core (ffi/) through bun:ffi.
 *
 * The library is embedded in the compiled binary. Bun would extract it to $TMPDIR itself, but it
 * re-uses any same-size file found there without checking its content, and a `noexec` temp dir
 * fails with "failed to map segment". So we extract it ourselves into the state directory, name
 * it by content hash, and check its SHA-256 against the value build.ts baked in before dlopen.
 */
import { dlopen, FFIType } from "bun:ffi";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import embeddedLibrary from "../../ffi/target/release/libwarden_core.so" with { type: "file" };

/** SHA-256 (hex) of the library, injected by build.ts; absent when running from source. */
declare const WARDEN_CORE_SHA256: string | undefined;

export const ERR_BUFFER_TOO_SMALL = -1;
export const ERR_PANIC = -99;

const symbols = {
  warden_core_version: { args: [FFIType.ptr, FFIType.usize], returns: FFIType.i32 },
  warden_core_selftest_panic: { args: [], returns: FFIType.i32 },
} as const;

export interface NativeCore {
  path: string;
  sha256: string;
  version: string;
  /** Calls the deliberately panicking export; returns its status code (ERR_PANIC). */
  selftestPanic(): number;
  close(): void;
}

function sha256Hex(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** Bytes of the library this binary carries. */
export async function embeddedBytes(): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(embeddedLibrary).arrayBuffer());
}

/**
 * Writes the embedded library to `<dataDir>/lib/libwarden_core-<sha>.so` (unless a file with the
 * right content is already there), verifies it, and returns its path.
 */
export async function extractLibrary(dataDir: string): Promise<{ path: string; sha256: string }> {
  const bytes = await embeddedBytes();
  const actual = sha256Hex(bytes);
  const expected = typeof WARDEN_CORE_SHA256 === "string" ? WARDEN_CORE_SHA256 : actual;
  if (actual !== expected) throw new Error(`embedded core library is corrupt: sha256 ${actual}, expected ${expected}`);
  const dir = join(dataDir, "lib");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `libwarden_core-${expected.slice(0, 16)}.so`);
  if (!existsSync(path) || sha256Hex(readFileSync(path)) !== expected) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o500 });
    renameSync(tmp, path); // atomic: a concurrent start never dlopens a half-written file
  }
  // Check the file we are about to map, not the bytes we meant to write.
  const onDisk = sha256Hex(readFileSync(path));
  if (onDisk !== expected) throw new Error(`core library at ${path} has sha256 ${onDisk}, expected ${expected}`);
  chmodSync(path, 0o500);
  return { path, sha256: expected };
}

/** Opens an already-extracted library (the audit worker does this with the path serve passes it). */
export function openCore(path: string, sha256: string): NativeCore {
  const lib = dlopen(path, symbols);
  const buf = new Uint8Array(64);
  const n = lib.symbols.warden_core_version(buf, buf.length);
  if (n < 0) throw new Error(`core library version call failed with status ${n}`);
  return {
    path,
    sha256,
    version: new TextDecoder().decode(buf.subarray(0, n)),
    selftestPanic: () => lib.symbols.warden_core_selftest_panic(),
    close: () => lib.close(),
  };
}

/** Extracts, verifies and opens the core library. */
export async function loadCore(dataDir: string): Promise<NativeCore> {
  const { path, sha256 } = await extractLibrary(dataDir);
  return openCore(path, sha256);
}
