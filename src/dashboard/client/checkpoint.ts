/**
 * The ledger's checkpoint as GET /v1/audit/checkpoint serves it: a C2SP `tlog-checkpoint` body
 * (origin, tree size, base64 root hash) in a C2SP `signed-note`, read in the browser.
 *
 * Checking a signature needs the ledger's verifier key (`warden version` prints it) and
 * WebCrypto's Ed25519, which browsers offer only in secure contexts (https, or localhost).
 * SHA-256 for the key hash is injected, so @noble/hashes serves where WebCrypto does not.
 *
 * @example
 * const cp = parseCheckpointNote(await (await fetch("/v1/audit/checkpoint", { headers })).text());
 * cp.size; cp.root; // the tree the inclusion proofs are checked against
 */
import { fromBase64, toHex } from "./bytes";
import type { Sha256 } from "../../audit/proof";

export interface SignatureLine {
  name: string;
  /** The key hash (first 4 bytes of the signature blob), as 8 hex digits. */
  keyHash: string;
  /** The whole `— name base64` line. */
  line: string;
  signature: Uint8Array<ArrayBuffer>;
}

export interface CheckpointNote {
  origin: string;
  size: number;
  root: Uint8Array;
  rootBase64: string;
  /** The signed text: every line up to the blank line, each ending in "\n". */
  text: string;
  signatures: SignatureLine[];
}

/** Parses a signed checkpoint note; throws naming what is malformed. */
export function parseCheckpointNote(note: string): CheckpointNote {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Error("malformed checkpoint note: no signature block");
  const text = note.slice(0, split + 1);
  const lines = text.split("\n");
  if (lines.length < 4 || lines[0] === "" || !/^(0|[1-9][0-9]*)$/.test(lines[1]!)) throw new Error("malformed checkpoint: origin and tree size");
  const root = fromBase64(lines[2]!);
  if (root.length !== 32) throw new Error("malformed checkpoint: the root hash is not 32 bytes");
  const signatures = note
    .slice(split + 2, -1)
    .split("\n")
    .map((line): SignatureLine => {
      const m = /^— (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (m === null) throw new Error("malformed checkpoint note: signature line");
      const blob = fromBase64(m[2]!);
      if (blob.length < 5) throw new Error("malformed checkpoint note: signature too short");
      return { name: m[1]!, keyHash: toHex(blob.subarray(0, 4)), line, signature: blob.subarray(4) };
    });
  return { origin: lines[0]!, size: Number(lines[1]), root, rootBase64: lines[2]!, text, signatures };
}

/**
 * Checks the note's Ed25519 signature by the verifier key `name+hash+base64(0x01 ‖ pub)`
 * (golang.org/x/mod/sumdb/note encoding). Resolves true or false; rejects when the key is
 * malformed or this browser cannot check Ed25519 here.
 */
export async function verifyCheckpointSignature(sha: Sha256, cp: CheckpointNote, verifierKey: string): Promise<boolean> {
  const key = parseVerifierKey(sha, verifierKey.trim());
  if (globalThis.crypto?.subtle === undefined) throw new Error("WebCrypto is unavailable here (it needs https or localhost)");
  const line = cp.signatures.find((s) => s.name === key.name && s.keyHash === key.keyHash);
  if (line === undefined) return false;
  const publicKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify("Ed25519", publicKey, line.signature, new TextEncoder().encode(cp.text));
}

function parseVerifierKey(sha: Sha256, text: string): { name: string; keyHash: string; publicKey: Uint8Array<ArrayBuffer> } {
  const m = /^([\x21-\x2a\x2c-\x7e]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text);
  if (m === null) throw new Error("malformed verifier key (want name+hash+key)");
  const raw = fromBase64(m[3]!);
  if (raw.length !== 33 || raw[0] !== 0x01) throw new Error("malformed verifier key: not an Ed25519 key");
  const name = m[1]!;
  const publicKey = raw.slice(1);
  const prefix = new TextEncoder().encode(`${name}\n`);
  const hashed = new Uint8Array(prefix.length + raw.length);
  hashed.set(prefix);
  hashed.set(raw, prefix.length);
  if (toHex(sha(hashed).subarray(0, 4)) !== m[2]) throw new Error("malformed verifier key: the key hash does not match");
  return { name, keyHash: m[2]!, publicKey };
}
