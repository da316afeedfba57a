/**
 * The real Rust core for in-process tests (the WAF's entropy scoring goes through it), loaded
 * from the cargo build that `npm test` runs first. It is extracted under ffi/target, next to the
 * build output, so test runs do not litter the temp directory.
 */
import { join } from "node:path";
import { loadCore, type NativeCore } from "../../src/native";

export const core: NativeCore = await loadCore(join(import.meta.dir, "../../ffi/target/test-core"));

/** AppDeps.entropy for createGateway in tests. */
export const entropy = (spans: Uint8Array[]): Float64Array => core.byteEntropy(spans);
