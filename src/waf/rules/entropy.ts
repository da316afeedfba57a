/**
 * secret.high_entropy: credentials with no recognisable prefix, found as random-looking tokens.
 *
 * Entropy alone misleads. A random 20-character base64 string averages only ~4.05 bits per
 * character (a short sample cannot show all 64 symbols), camelCase identifiers reach 3.9–4.1,
 * English passphrases 3.3–3.5, and git SHAs, UUIDs and content hashes are as random as any key
 * but are not secrets. So a token is reported only when all of these hold:
 *
 * 1. Shape: a run of 20–512 characters of the base64/base64url/hex alphabet, not part of a longer
 *    run, mixing character classes (base64-like: upper, lower and digit; hex-like: letter and
 *    digit), and not an identifier (camelCase/snake_case words average 3+ characters per word,
 *    random text under 2).
 * 2. Corroboration: a secret keyword (key, token, secret, password, credential, auth, bearer…)
 *    in the 48 characters before it on the same line, or an assignment `name = "…"` /
 *    `"name": "…"` whose name is not one that holds public random values (id, sha, hash, commit,
 *    checksum, digest, etag, integrity, version, …). A UUID needs a keyword, an assignment is
 *    not enough (UUIDs are ids far more often than keys).
 * 3. Entropy (bits per byte, computed by the Rust core in one batched call per request) at or
 *    above the threshold for the token's length and alphabet: roughly the 2nd percentile of
 *    uniformly random strings of that length (simulated), so ~98% of genuinely random tokens
 *    pass while repetitive or structured strings (base64 of text, padded ids) fall short.
 *
 * | length | base64-like | hex-like |
 * |-------:|------------:|---------:|
 * |     20 |        3.65 |     2.92 |
 * |     28 |        4.05 |     3.18 |
 * |     48 |        4.63 |     3.50 |
 * |     80 |        5.09 |     3.70 |
 * |    128 |        5.38 |     3.80 |
 * |    256 |        5.66 |     3.89 |
 * |    512 |        5.80 |     3.93 |
 */

import { alphabetRuns, inAlphabetOrPad } from "../runs";

export const ENTROPY_MIN_LENGTH = 20;
export const ENTROPY_MAX_LENGTH = 512;


const LENGTHS = [20, 28, 48, 80, 128, 192, 256, 384, 512];
const BASE64_BITS = [3.65, 4.05, 4.63, 5.09, 5.38, 5.56, 5.66, 5.75, 5.8];
const HEX_BITS = [2.92, 3.18, 3.5, 3.7, 3.8, 3.86, 3.89, 3.92, 3.93];

/**
 * The entropy (bits per byte) a token of this length and alphabet needs to count as random,
 * interpolated on log2(length) between the table's rows.
 *
 * @example
 * entropyThreshold(40, false); // ≈ 4.45
 */
export function entropyThreshold(length: number, hex: boolean): number {
  const bits = hex ? HEX_BITS : BASE64_BITS;
  if (length <= LENGTHS[0]!) return bits[0]!;
  for (let i = 1; i < LENGTHS.length; i++) {
    if (length <= LENGTHS[i]!) {
      const lo = Math.log2(LENGTHS[i - 1]!);
      const t = (Math.log2(length) - lo) / (Math.log2(LENGTHS[i]!) - lo);
      return bits[i - 1]! + t * (bits[i]! - bits[i - 1]!);
    }
  }
  return bits[bits.length - 1]!;
}

const HEX_LIKE = /^(?:[0-9a-f-]+|[0-9A-F-]+)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const WORD_TOKEN = /[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+/g;

/** camelCase, PascalCase, snake_case and path-like runs of real words. */
function looksLikeIdentifier(token: string): boolean {
  const letters = token.replace(/[^A-Za-z0-9]/g, "").length;
  let words = 0;
  WORD_TOKEN.lastIndex = 0;
  while (WORD_TOKEN.exec(token) !== null) words++;
  return letters / words >= 3;
}

/** Is this run shaped like a random token (class mix, not an identifier)? */
export function tokenShape(token: string): "hex" | "base64" | undefined {
  const digits = /[0-9]/.test(token);
  if (!digits) return undefined;
  if (HEX_LIKE.test(token)) return /[A-Fa-f]/.test(token) ? "hex" : undefined;
  if (!/[a-z]/.test(token) || !/[A-Z]/.test(token)) return undefined;
  return looksLikeIdentifier(token) ? undefined : "base64";
}

const KEYWORD =
  /secret|token|passw(?:or)?d|passwd|pwd|passphrase|credential|api[ _.-]?key|access[ _.-]?key|private[ _.-]?key|signing[ _.-]?key|client[ _.-]?secret|auth(?![a-z])|authoriz|authentic|bearer|(?<!public[ _-]?)(?<![a-z])keys?(?![a-z])/i;
const ASSIGNMENT = /([A-Za-z_$][\w.$-]{0,40})["'`]?\s*(?:=|:|=>|:=)\s*["'`]?$/;
const PUBLIC_VALUE_NAMES = [
  "id", "sha", "sha1", "sha256", "sha512", "hash", "digest", "checksum", "commit", "rev", "revision", "etag",
  "integrity", "version", "ref", "tree", "parent", "name", "url", "uri", "href", "src", "path", "file", "type",
  "model", "md5", "crc", "crc32", "fingerprint", "oid", "blob", "tag", "build", "trace", "span", "before",
  "after", "head", "base", "title", "slug", "color", "colour", "image",
];

function publicValueName(name: string): boolean {
  const lower = name.toLowerCase();
  for (const suffix of PUBLIC_VALUE_NAMES) if (lower.endsWith(suffix)) return true;
  return false;
}

const CONTEXT = 48;

/**
 * Is there a reason to believe the token at `start` is a secret: a keyword shortly before it on
 * its line ("strong"), or an assignment to a name that does not hold public values ("weak")?
 */
export function corroboration(text: string, start: number): "strong" | "weak" | undefined {
  const lineStart = text.lastIndexOf("\n", start - 1) + 1;
  const context = text.slice(Math.max(lineStart, start - CONTEXT), start);
  if (KEYWORD.test(context)) return "strong";
  const m = ASSIGNMENT.exec(context);
  if (m !== null && !publicValueName(m[1]!)) return "weak";
  return undefined;
}

/**
 * Calls `found` for every corroborated random-looking token in `text`; the caller scores them
 * all in one entropy batch and keeps those at or above {@link entropyThreshold}.
 *
 * @example
 * entropyCandidates('api_key = "Zx9kQ2mVb7LpR4tYw8NcJ3hF"', (s, e, hex) => console.log(s, e, hex)); // 11 35 false
 */
export function entropyCandidates(text: string, found: (start: number, end: number, hex: boolean) => void): void {
  alphabetRuns(text, ENTROPY_MIN_LENGTH, (start, runEnd, padding) => {
    // Up to two "=" of padding belong to the token; more, or a run that goes on after them,
    // is something else (an assignment chain, a separator line).
    if (runEnd - start > ENTROPY_MAX_LENGTH || padding > 2 || inAlphabetOrPad(text, runEnd + padding)) return;
    const end = runEnd + padding;
    const token = text.slice(start, end);
    const shape = tokenShape(token);
    if (shape === undefined) return;
    const why = corroboration(text, start);
    if (why === undefined || (why === "weak" && UUID.test(token))) return;
    found(start, end, shape === "hex");
  });
}
