/**
 * Texts shared by the token tests and bench/tokens.ts: ordinary text of several kinds, and
 * the adversarial inputs the bounding in count.ts exists for. Deterministic (seeded), so a
 * failing comparison can be reproduced.
 */

/** A small linear congruential generator: reproducible "random" text without a dependency. */
export function seededRandom(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % below;
  };
}

/** Ordinary texts: every piece is short, so counts must match tiktoken exactly. */
export const ORDINARY_TEXTS: readonly string[] = [
  "hello world",
  "The quick brown fox jumps over the lazy dog. It's 9:41 AM; we'll ship v2.3.1 — 100% done!",
  "Dear team,\n\nPlease find the Q3 report attached.\r\nBest regards,\n  Ana\n\n\n",
  'export function add(a: number, b: number): number {\n    return a + b; // TODO: overflow?\n}\n',
  '{"id":"chatcmpl-123","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant"}}]}',
  "def f(x):\n\tif x > 10_000:\n\t\treturn x ** 2\n\treturn None\n",
  "Die Donaudampfschifffahrtsgesellschaft ist groß. Ça coûte 12,50 € à Zürich.",
  "Съешь же ещё этих мягких французских булок, да выпей чаю.",
  "お誕生日おめでとう。今日は良い天気ですね、散歩に行きましょう！",
  "机器学习是人工智能的一个分支，它使计算机能够从数据中学习。",
  "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ แต่เว้นวรรคระหว่างประโยค",
  "مرحبا بالعالم، كيف حالك اليوم؟",
  "नमस्ते दुनिया, आप कैसे हैं?",
  "Emoji: 😀👍🏽🇫🇷 and ZWJ 👨‍👩‍👧‍👦 family.",
  "Special tokens typed by users: <|endoftext|> <|fim_prefix|> <|endofprompt|>",
  "Numbers 1234567890 3.14159 -42 1e10 0xDEADBEEF 2024-11-23T10:00:00Z",
  "URLs https://example.com/a/b?c=d&e=f#g and paths /usr/local/bin/warden",
  "SGVsbG8sIFdvcmxkIQ== aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ=",
  "    indented with spaces\n\t\ttabs\n\u00a0non-breaking\u3000ideographic space",
  "Lone surrogates \ud800 and \udc00 become U+FFFD.",
];

const PALETTE = [
  "a", "Z", "é", "ß", "Ж", "字", "ア", "한", "ก", "\u0301", "1", "9", "٣", " ", "  ", "\n", "\r\n", "\t",
  "\u00a0", "'s", "'LL", "'", '"', "!", "?", ".", ",", "/", "-", "_", "(", "{", "<|endoftext|>", "😀",
  "👍🏽", "\ud800", "€", "→", "𝔸", "\u200b", "\u0000",
];

/**
 * `count` random strings mixing scripts, marks, emoji, whitespace and lone surrogates, with
 * short repeats (pieces stay far below MAX_PIECE_CHARS: their counts must be exact).
 *
 * @example
 * mixedStrings(100, 7).length; // 100
 */
export function mixedStrings(count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let text = "";
    const parts = 1 + random(40);
    for (let j = 0; j < parts; j++) {
      const part = PALETTE[random(PALETTE.length)]!;
      text += random(4) === 0 ? part.repeat(1 + random(12)) : part;
    }
    out.push(text);
  }
  return out;
}

const MiB = 1 << 20;

/** Random CJK ideographs: each one is 3 UTF-8 bytes. */
function randomCjk(chars: number, seed: number): string {
  const random = seededRandom(seed);
  const codes = new Uint16Array(chars);
  for (let i = 0; i < chars; i++) codes[i] = 0x4e00 + random(20000);
  return new TextDecoder("utf-16le").decode(codes);
}

function randomBase64(bytes: number, seed: number): string {
  const random = seededRandom(seed);
  const raw = new Uint8Array(Math.ceil((bytes * 3) / 4));
  for (let i = 0; i < raw.length; i++) raw[i] = random(256);
  return Buffer.from(raw).toString("base64").slice(0, bytes);
}

/**
 * The adversarial inputs, each about `bytes` of UTF-8 (1 MiB by default): long runs with no
 * space, which js-tiktoken alone encodes in quadratic time.
 *
 * @example
 * Object.keys(adversarialInputs(1024)); // ["letter a", "random base64", ...]
 */
export function adversarialInputs(bytes = MiB): Record<string, string> {
  return {
    "letter a": "a".repeat(bytes),
    "random base64": randomBase64(bytes, 1),
    "CJK, no spaces": randomCjk(Math.floor(bytes / 3), 2),
    "one emoji repeated": "😀".repeat(Math.floor(bytes / 4)),
    "digit run": "1234567890".repeat(Math.floor(bytes / 10)),
    "spaces": " ".repeat(bytes),
    "newlines": "\n".repeat(bytes),
  };
}
