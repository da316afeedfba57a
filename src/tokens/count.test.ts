import { describe, expect, test } from "bun:test";
import { Tiktoken } from "js-tiktoken/lite";
import { countTokens, isCountExact, MAX_PIECE_CHARS } from "./count.ts";
import { ENCODING_NAMES, getEncoding, type EncodingName } from "./encodings.ts";
import { countMergesWith } from "./bpe.ts";
import { adversarialInputs, mixedStrings, ORDINARY_TEXTS } from "./test-corpus.ts";

function referenceEncoder(name: EncodingName): Tiktoken {
  switch (name) {
    case "o200k_base":
      return new Tiktoken(require("js-tiktoken/ranks/o200k_base"));
    case "cl100k_base":
      return new Tiktoken(require("js-tiktoken/ranks/cl100k_base"));
    case "p50k_base":
      return new Tiktoken(require("js-tiktoken/ranks/p50k_base"));
  }
}

describe("published counts", () => {
  // OpenAI cookbook "How to count tokens with tiktoken", section "Comparing encodings".
  const published: [string, Record<EncodingName, number>][] = [
    ["antidisestablishmentarianism", { p50k_base: 5, cl100k_base: 6, o200k_base: 6 }],
    ["2 + 2 = 4", { p50k_base: 5, cl100k_base: 7, o200k_base: 7 }],
    ["お誕生日おめでとう", { p50k_base: 14, cl100k_base: 9, o200k_base: 8 }],
  ];
  for (const [text, counts] of published) {
    for (const name of ENCODING_NAMES) {
      test(`${JSON.stringify(text)} is ${counts[name]} tokens in ${name}`, () => {
        expect(countTokens(getEncoding(name), text)).toBe(counts[name]);
      });
    }
  }

  test('"hello world" is 2 tokens in cl100k_base, "tiktoken is great!" 6 in o200k_base', () => {
    expect(countTokens(getEncoding("cl100k_base"), "hello world")).toBe(2);
    expect(countTokens(getEncoding("o200k_base"), "tiktoken is great!")).toBe(6);
  });

  test("the empty text is 0 tokens", () => {
    expect(countTokens(getEncoding("o200k_base"), "")).toBe(0);
  });
});

describe("agreement with js-tiktoken's encoder on ordinary text", () => {
  for (const name of ENCODING_NAMES) {
    test(`${name}: every count equals Tiktoken.encode(...).length`, () => {
      const reference = referenceEncoder(name);
      const encoding = getEncoding(name);
      const texts = [...ORDINARY_TEXTS, ORDINARY_TEXTS.join("\n"), ...mixedStrings(300, 11)];
      const mismatches = texts.filter((text) => countTokens(encoding, text) !== reference.encode(text, [], []).length);
      expect(mismatches).toEqual([]);
    });
  }

  test("special-token strings count as plain text, not as one token", () => {
    const encoding = getEncoding("cl100k_base");
    expect(countTokens(encoding, "<|endoftext|>")).toBeGreaterThan(1);
  });
});

describe("merge strategies", () => {
  test("heap and rescan merges give the same counts on pieces of every size", () => {
    const encoding = getEncoding("o200k_base");
    const utf8 = new TextEncoder();
    for (const text of [...mixedStrings(200, 5), "a".repeat(3000), "ab".repeat(700), "字".repeat(500)]) {
      const bytes = Buffer.from(utf8.encode(text)).toString("latin1");
      expect(countMergesWith("heap", encoding, bytes)).toBe(countMergesWith("rescan", encoding, bytes));
    }
  });

  test("a long single piece (heap path) still matches js-tiktoken exactly", () => {
    const reference = referenceEncoder("cl100k_base");
    const encoding = getEncoding("cl100k_base");
    // Kept short: js-tiktoken needs a quarter of a second for ~1 000 bytes of one piece.
    for (const text of ["a".repeat(900), "xyz".repeat(300), adversarialInputs(900)["CJK, no spaces"]!]) {
      expect(countTokens(encoding, text)).toBe(reference.encode(text, [], []).length);
    }
  });
});

describe("bounding long runs", () => {
  const inputs = adversarialInputs();

  for (const name of ENCODING_NAMES) {
    test(`${name}: each 1 MiB adversarial input counts in under a second`, () => {
      const encoding = getEncoding(name);
      for (const [label, text] of Object.entries(inputs)) {
        const started = performance.now();
        const tokens = countTokens(encoding, text);
        const elapsed = performance.now() - started;
        expect({ label, fast: elapsed < 1000 }).toEqual({ label, fast: true });
        expect(tokens).toBeGreaterThan(0);
      }
    });
  }

  test("runs longer than MAX_PIECE_CHARS become estimates within 1 % of the exact count", () => {
    const encoding = getEncoding("o200k_base");
    const utf8 = new TextEncoder();
    for (const text of ["a".repeat(5 * MAX_PIECE_CHARS + 7), "xyz".repeat(3 * MAX_PIECE_CHARS)]) {
      expect(isCountExact(encoding, text)).toBe(false);
      const exact = countMergesWith("heap", encoding, Buffer.from(utf8.encode(text)).toString("latin1"));
      const estimate = countTokens(encoding, text);
      expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.01);
    }
  });

  test("cuts fall every MAX_PIECE_CHARS units but never inside a surrogate pair", () => {
    const encoding = getEncoding("o200k_base");
    const emoji = "😀";
    // One piece of 1 + 2·MAX units: after the "!", every pair straddles an even boundary, so
    // each cut moves back by one unit. A split pair would turn into two U+FFFD instead.
    const piece = "!" + emoji.repeat(MAX_PIECE_CHARS);
    const expected =
      countTokens(encoding, "!" + emoji.repeat(MAX_PIECE_CHARS / 2 - 1)) +
      countTokens(encoding, emoji.repeat(MAX_PIECE_CHARS / 2)) +
      countTokens(encoding, emoji);
    expect(countTokens(encoding, piece)).toBe(expected);
  });

  test("ordinary text is never cut", () => {
    for (const name of ENCODING_NAMES) {
      for (const text of ORDINARY_TEXTS) expect(isCountExact(getEncoding(name), text)).toBe(true);
    }
  });
});
