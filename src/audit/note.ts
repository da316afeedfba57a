/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519, byte-compatible with Go's
 * golang.org/x/mod/sumdb/note, and C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint).
 *
 * Key strings use the sumdb/note encoding so operators can hand the verifier key to Go tools:
 *   signer   PRIVATE+KEY+<name>+<hash8hex>+<base64(0x01 ‖ seed32)>
 *   verifier <name>+<hash8hex>+<base64(0x01 ‖ pub32)>
 * where hash = first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ pub32), big-endian.
 *
 * @example
 * const signer = await parseSignerKey("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
 * const note = await signNote("hello\n", signer); // "hello\n\n— PeterNeumann <base64>\n"
 */

const ALG_ED25519 = 0x01;
/** PKCS#8 wrapper of a raw Ed25519 seed (RFC 8410), since WebCrypto imports private keys only so. */
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const encoder = new TextEncoder();

export interface Signer {
  name: string;
  keyHash: number;
  publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface Verifier {
  name: string;
  keyHash: number;
  publicKey: Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

function isValidName(name: string): boolean {
  return name.length > 0 && !/[\s+]/.test(name) && /^[\x21-\x7e]+$/.test(name);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function keyHash(name: string, publicKey: Uint8Array): number {
  const digest = new Bun.CryptoHasher("sha256").update(concat(encoder.encode(`${name}\n`), Uint8Array.of(ALG_ED25519), publicKey)).digest() as Uint8Array;
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0, false);
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0");

function base64ToBytes(b64: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  return Uint8Array.from(Buffer.from(b64, "base64"));
}

async function fromSeed(name: string, seed: Uint8Array): Promise<Signer> {
  const key = await crypto.subtle.importKey("pkcs8", concat(PKCS8_PREFIX, seed) as Uint8Array<ArrayBuffer>, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const publicKey = Uint8Array.from(Buffer.from(jwk.x!, "base64url"));
  return {
    name,
    keyHash: keyHash(name, publicKey),
    publicKey,
    sign: async (message) => new Uint8Array(await crypto.subtle.sign("Ed25519", key, message as Uint8Array<ArrayBuffer>)),
  };
}

/** `name+hash+key`, where the base64 key may itself contain "+". */
function splitKey(text: string): [string, string, string] {
  const a = text.indexOf("+");
  const b = a < 0 ? -1 : text.indexOf("+", a + 1);
  if (b < 0) return ["", "", ""];
  return [text.slice(0, a), text.slice(a + 1, b), text.slice(b + 1)];
}

/** Parses a `PRIVATE+KEY+name+hash+key` string, checking the hash against the derived public key. */
export async function parseSignerKey(text: string): Promise<Signer> {
  if (!text.startsWith("PRIVATE+KEY+")) throw new Error("malformed signer key");
  const [name, hash, b64] = splitKey(text.slice("PRIVATE+KEY+".length));
  const raw = base64ToBytes(b64);
  if (!isValidName(name) || !/^[0-9a-f]{8}$/.test(hash) || raw === undefined || raw.length !== 33 || raw[0] !== ALG_ED25519) {
    throw new Error("malformed signer key");
  }
  const signer = await fromSeed(name, raw.subarray(1));
  if (hex8(signer.keyHash) !== hash) throw new Error("malformed signer key: key hash does not match");
  return signer;
}

/** Parses a `name+hash+key` verifier key string. */
export async function parseVerifierKey(text: string): Promise<Verifier> {
  const [name, hash, b64] = splitKey(text);
  const raw = base64ToBytes(b64);
  if (!isValidName(name) || !/^[0-9a-f]{8}$/.test(hash) || raw === undefined || raw.length !== 33 || raw[0] !== ALG_ED25519) {
    throw new Error("malformed verifier key");
  }
  const publicKey = raw.slice(1);
  if (hex8(keyHash(name, publicKey)) !== hash) throw new Error("malformed verifier key: key hash does not match");
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return {
    name,
    keyHash: keyHash(name, publicKey),
    publicKey,
    verify: (message, signature) => crypto.subtle.verify("Ed25519", key, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>),
  };
}

/** A fresh key pair as sumdb/note strings. */
export async function generateKey(name: string): Promise<{ signerKey: string; verifierKey: string }> {
  if (!isValidName(name)) throw new Error(`invalid key name: ${name}`);
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const signer = await fromSeed(name, seed);
  const hash = hex8(signer.keyHash);
  return {
    signerKey: `PRIVATE+KEY+${name}+${hash}+${Buffer.from(concat(Uint8Array.of(ALG_ED25519), seed)).toString("base64")}`,
    verifierKey: verifierKeyOf(signer),
  };
}

export function verifierKeyOf(signer: Pick<Signer, "name" | "keyHash" | "publicKey">): string {
  return `${signer.name}+${hex8(signer.keyHash)}+${Buffer.from(concat(Uint8Array.of(ALG_ED25519), signer.publicKey)).toString("base64")}`;
}

/** Signs `text` (which must end in a newline) and returns the note: text, blank line, signature line. */
export async function signNote(text: string, signer: Signer): Promise<string> {
  if (!text.endsWith("\n") || text.includes("\n\n")) throw new Error("malformed note: text must end in a newline and have no blank line");
  const sig = await signer.sign(encoder.encode(text));
  const tagged = new Uint8Array(4 + sig.length);
  new DataView(tagged.buffer).setUint32(0, signer.keyHash, false);
  tagged.set(sig, 4);
  return `${text}\n— ${signer.name} ${Buffer.from(tagged).toString("base64")}\n`;
}

/**
 * Opens a signed note: returns its text if at least one signature line is by `verifier` and valid.
 * Throws on malformed notes and invalid signatures by the verifier's key.
 */
export async function openNote(note: string, verifier: Verifier): Promise<string> {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Error("malformed note");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  let verified = false;
  for (const line of lines) {
    const m = /^— (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new Error("malformed note");
    const raw = base64ToBytes(m[2]);
    if (raw === undefined || raw.length < 5) throw new Error("malformed note");
    const hash = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0, false);
    if (m[1] !== verifier.name || hash !== verifier.keyHash) continue;
    if (!(await verifier.verify(encoder.encode(text), raw.subarray(4)))) throw new Error(`invalid signature for key ${verifier.name}+${hex8(hash)}`);
    verified = true;
  }
  if (!verified) throw new Error("note has no verifiable signatures");
  return text;
}

/** C2SP tlog-checkpoint body: origin line, decimal tree size, base64 root hash. */
export function checkpointBody(origin: string, size: number, root: Uint8Array): string {
  if (origin === "" || /[\n]/.test(origin)) throw new Error("invalid checkpoint origin");
  return `${origin}\n${size}\n${Buffer.from(root).toString("base64")}\n`;
}

export function parseCheckpoint(body: string): { origin: string; size: number; root: Uint8Array } {
  const lines = body.split("\n");
  if (lines.length < 4 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new Error("malformed checkpoint");
  const root = base64ToBytes(lines[2]);
  if (root === undefined || root.length !== 32) throw new Error("malformed checkpoint");
  return { origin: lines[0], size: Number(lines[1]), root };
}
