/**
 * Virtual API keys: their format, generation, checksum and hash.
 *
 * A key is `wdn-` + 32 random base62 characters (≈190 bits) + 6 base62 characters of checksum,
 * 42 characters in all: `wdn-` <32 random> <6 checksum>.
 * The checksum is CRC32 (IEEE 802.3, zlib's crc32) of the 32 random characters as ASCII bytes,
 * written as a fixed-width, zero-padded base62 number, most significant digit first
 * (62^6 > 2^32), the scheme GitHub uses for its tokens. It lets the
 * gateway refuse a mistyped or invented key without touching the database, and lets secret
 * scanners tell a real Warden key from a look-alike with almost no false positives.
 *
 * Regex for secret scanners (then check the checksum to confirm):
 *
 *     \bwdn-[0-9A-Za-z]{38}\b
 *
 * Base62 alphabet: `0-9A-Za-z`, in that order (digit value 0..61).
 * Only SHA-256(key) is stored; the key itself is shown once, at creation or rotation.
 */

export const KEY_PREFIX = "wdn-";
export const RANDOM_CHARS = 32;
export const CHECKSUM_CHARS = 6;
export const KEY_LENGTH = KEY_PREFIX.length + RANDOM_CHARS + CHECKSUM_CHARS;
/**
 * What a secret scanner looks for; confirm a match with {@link isWellFormed}. Not global, so
 * sharing it is safe (`new RegExp(KEY_PATTERN, "g")` to find all).
 */
export const KEY_PATTERN = /\bwdn-[0-9A-Za-z]{38}\b/;

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const WELL_FORMED = /^wdn-[0-9A-Za-z]{38}$/;

/** Fixed-width base62 of a 32-bit checksum, most significant digit first. */
function checksumOf(random: string): string {
  let n = Bun.hash.crc32(random);
  let out = "";
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/**
 * Uniform base62 characters from the CSPRNG. Bytes of 248 and above are thrown away
 * (248 = 4 × 62), so every character is equally likely: no modulo bias.
 */
function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * A new secret key.
 *
 * @example
 * const key = generateKey(); // "wdn-" + 38 base62 characters
 * isWellFormed(key); // true
 */
export function generateKey(): string {
  const random = randomBase62(RANDOM_CHARS);
  return KEY_PREFIX + random + checksumOf(random);
}

/**
 * Whether `key` has the format and a matching checksum. Cheap (a regex and a CRC32 of 32 bytes),
 * so it runs before any database look-up.
 *
 * @example
 * isWellFormed("wdn-" + "0".repeat(38)); // false: the checksum does not match
 */
export function isWellFormed(key: string): boolean {
  if (key.length !== KEY_LENGTH || !WELL_FORMED.test(key)) return false;
  const end = KEY_PREFIX.length + RANDOM_CHARS;
  return checksumOf(key.slice(KEY_PREFIX.length, end)) === key.slice(end);
}

/**
 * SHA-256 of a presented key: what the key store keeps and looks keys up by.
 *
 * @example
 * secretHash(generateKey()).length; // 32
 */
export function secretHash(key: string): Buffer {
  return Bun.CryptoHasher.hash("sha256", key) as Buffer;
}

/** Public key ids (`key_` + 16 hex digits): safe for logs, the ledger and error messages. */
export function newKeyId(): string {
  return `key_${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex")}`;
}

/** The last four characters, which is all of a key the gateway ever shows again. */
export function lastFour(key: string): string {
  return key.slice(-4);
}
