import { describe, expect, test } from "bun:test";
import { checkpointBody, generateKey, openNote, parseCheckpoint, parseSignerKey, parseVerifierKey, signNote, verifierKeyOf } from "./note";

// The example keys and note from golang.org/x/mod/sumdb/note (note_test.go: TestSign, TestOpen).
const SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const SIGNED = `${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

describe("signed notes (Go sumdb/note compatible)", () => {
  test("reproduces Go's example signed note byte for byte", async () => {
    const signer = await parseSignerKey(SKEY);
    expect(verifierKeyOf(signer)).toBe(VKEY);
    expect(await signNote(TEXT, signer)).toBe(SIGNED);
  });

  test("opens Go's note with the verifier key; tampering fails", async () => {
    const v = await parseVerifierKey(VKEY);
    expect(await openNote(SIGNED, v)).toBe(TEXT);
    await expect(openNote(SIGNED.replace("problem,", "problem;"), v)).rejects.toThrow("invalid signature");
    await expect(openNote(SIGNED.replace("x08go", "x08gp"), v)).rejects.toThrow();
    await expect(openNote(TEXT, v)).rejects.toThrow("malformed note");
    const other = await parseVerifierKey("EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop");
    await expect(openNote(SIGNED, other)).rejects.toThrow("no verifiable signatures");
  });

  test("rejects mangled keys", async () => {
    for (let i = 0; i < VKEY.length; i++) {
      const mangled = VKEY.slice(0, i) + String.fromCharCode(VKEY.charCodeAt(i) + 1) + VKEY.slice(i + 1);
      await expect(parseVerifierKey(mangled)).rejects.toThrow();
    }
    await expect(parseSignerKey(SKEY.replace("c74f20a3", "c74f20a4"))).rejects.toThrow();
    await expect(parseSignerKey(SKEY.slice(0, -1))).rejects.toThrow();
  });

  test("generated keys sign and verify each other", async () => {
    const { signerKey, verifierKey } = await generateKey("warden.example/ledger");
    const note = await signNote("hello\n", await parseSignerKey(signerKey));
    expect(await openNote(note, await parseVerifierKey(verifierKey))).toBe("hello\n");
  });
});

describe("tlog-checkpoint", () => {
  test("body round-trips", () => {
    const root = new Uint8Array(32).fill(7);
    const body = checkpointBody("warden.example/ledger", 42, root);
    expect(body).toBe(`warden.example/ledger\n42\n${Buffer.from(root).toString("base64")}\n`);
    expect(parseCheckpoint(body)).toEqual({ origin: "warden.example/ledger", size: 42, root });
    expect(() => parseCheckpoint("o\n01\nAAAA\n")).toThrow();
  });
});
