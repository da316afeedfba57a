import { describe, expect, test } from "bun:test";
import { sha256 } from "@noble/hashes/sha2.js";
import { checkpointBody, generateKey, parseSignerKey, signNote } from "../../audit/note";
import { toHex } from "./bytes";
import { parseCheckpointNote, verifyCheckpointSignature } from "./checkpoint";

const root = Uint8Array.from({ length: 32 }, (_, i) => i * 7);

async function signedCheckpoint(size = 42) {
  const { signerKey, verifierKey } = await generateKey("warden.test/ledger");
  const note = await signNote(checkpointBody("warden.test/ledger", size, root), await parseSignerKey(signerKey));
  return { note, verifierKey };
}

describe("parseCheckpointNote", () => {
  test("reads a checkpoint the ledger signs (src/audit/note.ts)", async () => {
    const { note } = await signedCheckpoint();
    const cp = parseCheckpointNote(note);
    expect(cp.origin).toBe("warden.test/ledger");
    expect(cp.size).toBe(42);
    expect(toHex(cp.root)).toBe(toHex(root));
    expect(cp.text).toBe(checkpointBody("warden.test/ledger", 42, root));
    expect(cp.signatures).toHaveLength(1);
    expect(cp.signatures[0]!.name).toBe("warden.test/ledger");
    expect(cp.signatures[0]!.line).toStartWith("— warden.test/ledger ");
    expect(cp.signatures[0]!.signature).toHaveLength(64);
  });

  test.each([
    ["no signature block", "o\n1\nAAAA\n"],
    ["a size that is not a number", `o\nten\n${btoa("x".repeat(32))}\n\n— o AAAAAAAA\n`],
    ["a root of the wrong length", `o\n1\n${btoa("x".repeat(31))}\n\n— o AAAAAAAA\n`],
    ["a root that is not base64", `o\n1\n${"!".repeat(44)}\n\n— o AAAAAAAA\n`],
    ["a bad signature line", `o\n1\n${btoa("x".repeat(32))}\n\nsigned by o\n`],
  ])("throws on %s", (_, note) => {
    expect(() => parseCheckpointNote(note)).toThrow(/malformed|not base64/);
  });
});

describe("verifyCheckpointSignature (WebCrypto Ed25519, key hash with @noble/hashes)", () => {
  test("true with the ledger's verifier key", async () => {
    const { note, verifierKey } = await signedCheckpoint();
    expect(await verifyCheckpointSignature(sha256, parseCheckpointNote(note), verifierKey)).toBe(true);
  });

  test("false when one byte of the signed text changed", async () => {
    const { note, verifierKey } = await signedCheckpoint(42);
    const forged = note.replace("\n42\n", "\n43\n");
    expect(await verifyCheckpointSignature(sha256, parseCheckpointNote(forged), verifierKey)).toBe(false);
  });

  test("false for another key of the same name (its key hash differs)", async () => {
    const { note } = await signedCheckpoint();
    const other = await generateKey("warden.test/ledger");
    expect(await verifyCheckpointSignature(sha256, parseCheckpointNote(note), other.verifierKey)).toBe(false);
  });

  test("a malformed key, or one whose hash does not match, is an error rather than false", async () => {
    const { note, verifierKey } = await signedCheckpoint();
    const cp = parseCheckpointNote(note);
    await expect(verifyCheckpointSignature(sha256, cp, "not a key")).rejects.toThrow(/malformed verifier key/);
    const wrongHash = verifierKey.replace(/\+([0-9a-f]{8})\+/, (_, h: string) => `+${h === "00000000" ? "00000001" : "00000000"}+`);
    await expect(verifyCheckpointSignature(sha256, cp, wrongHash)).rejects.toThrow(/key hash does not match/);
  });
});
