/**
 * What a WAF rule is: a stable id, the category a policy can address it by, the label its
 * redactions carry, and a scanner that reports match spans.
 *
 * Scanners are plain functions over one string. They must run in linear time on any input:
 * every regex here starts only at a boundary (a negative lookbehind on its own alphabet) and uses
 * bounded quantifiers, so a megabyte of adversarial text costs a bounded amount per position.
 */

import { wordMask, wordStarts, type WordGroup } from "./words";

export type Category = "injection" | "pii" | "secret";

/** Receives match spans as UTF-16 offsets into the scanned string, end exclusive. */
export interface Hits {
  add(start: number, end: number): void;
}

export interface Rule {
  /** `<category>.<name>`, stable: policies, audit records and the x-warden-rule header use it. */
  readonly id: string;
  readonly category: Category;
  /** Redactions read `[REDACTED:<label>]`. */
  readonly label: string;
  scan(text: string, hits: Hits): void;
}

/**
 * A global regex with optional prefilters that any text it matches must pass: `words`, keyword
 * groups that must all start some word (one shared pass, see words.ts), then `anchor`, a small
 * non-global regex. Big alternations cost ~3 ns per character even when they find nothing.
 *
 * `near: true` promises that every match lies within {@link NEAR_BEFORE} characters before to
 * {@link NEAR_AFTER} after a word of the first group; the regex then runs only on those windows.
 */
export type Pattern = RegExp | { re: RegExp; words?: readonly WordGroup[]; anchor?: RegExp; near?: boolean };

/** Window around a keyword for `near` patterns: generous next to the longest phrase (~250 chars). */
export const NEAR_BEFORE = 320;
export const NEAR_AFTER = 400;

/**
 * A rule from one or more global regexes, each match checked by `accept`, which may return
 * false to drop it or a narrower [start, end) to report instead of the whole match.
 * `gate` is a cheap test (usually `includes`) that skips the regexes on text that cannot match.
 *
 * @example
 * const rule = regexRule("pii.ssn", "pii", "ssn", { patterns: [/\d{3}-\d{2}-\d{4}/g] });
 */
export function regexRule(
  id: string,
  category: Category,
  label: string,
  opts: {
    patterns: Pattern[];
    gate?: (text: string) => boolean;
    accept?: (m: RegExpExecArray, text: string) => boolean | readonly [number, number];
  },
): Rule {
  const { patterns, gate, accept } = opts;
  const anchors: RegExp[] = [];
  interface Compiled {
    re: RegExp;
    /** Word-group bits that must all be present. */
    need: number;
    /** Index into `anchors`, or -1. */
    anchor: number;
    /** Group whose words the matches lie near, for windowed runs. */
    near: WordGroup | undefined;
  }
  const compiled = patterns.map((p): Compiled => {
    if (p instanceof RegExp) return { re: p, need: 0, anchor: -1, near: undefined };
    const need = (p.words ?? []).reduce((bits, g) => bits | g.bit, 0);
    if (p.near === true && (p.words === undefined || p.words.length === 0)) throw new Error(`rule ${id}: near needs words`);
    let anchor = -1;
    if (p.anchor !== undefined) {
      if (p.anchor.global) throw new Error(`rule ${id}: anchor ${p.anchor} must not have the g flag`);
      if (!anchors.includes(p.anchor)) anchors.push(p.anchor);
      anchor = anchors.indexOf(p.anchor);
    }
    return { re: p.re, need, anchor, near: p.near === true ? p.words![0] : undefined };
  });
  for (const { re } of compiled) if (!re.global) throw new Error(`rule ${id}: pattern ${re} needs the g flag`);
  const usesWords = compiled.some((c) => c.need !== 0);
  const anchorState = new Int8Array(anchors.length); // per scan: 0 untested, 1 present, 2 absent

  /** Runs `re` over text[from, to) and reports accepted matches in whole-text offsets. */
  const run = (re: RegExp, text: string, from: number, to: number, hits: Hits): void => {
    const part = from === 0 && to === text.length ? text : text.slice(from, to);
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(part)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      m.index += from; // accept() sees the whole text, with the context before the window
      const verdict = accept === undefined ? true : accept(m, text);
      if (verdict === true) hits.add(m.index, m.index + m[0].length);
      else if (verdict !== false) hits.add(verdict[0], verdict[1]);
    }
  };

  /** Runs a `near` pattern on merged windows around its keywords, cut at word boundaries. */
  const runNear = (c: Compiled, text: string, hits: Hits): void => {
    let from = -1;
    let to = -1;
    const flush = (): void => {
      if (from < 0) return;
      while (from > 0 && isWordChar(text.charCodeAt(from - 1))) from--;
      while (to < text.length && isWordChar(text.charCodeAt(to))) to++;
      run(c.re, text, from, to, hits);
    };
    wordStarts(text, c.near!, (p) => {
      const start = Math.max(0, p - NEAR_BEFORE);
      const end = Math.min(text.length, p + NEAR_AFTER);
      if (from >= 0 && start <= to) to = end;
      else {
        flush();
        from = start;
        to = end;
      }
    });
    flush();
  };

  return {
    id,
    category,
    label,
    scan(text, hits) {
      if (gate !== undefined && !gate(text)) return;
      anchorState.fill(0);
      const present = usesWords ? wordMask(text) : 0;
      for (const c of compiled) {
        if ((present & c.need) !== c.need) continue;
        if (c.anchor >= 0) {
          if (anchorState[c.anchor] === 0) anchorState[c.anchor] = anchors[c.anchor]!.test(text) ? 1 : 2;
          if (anchorState[c.anchor] === 2) continue;
        }
        if (c.near !== undefined) runNear(c, text, hits);
        else run(c.re, text, 0, text.length, hits);
      }
    },
  };
}

/** Letters, digits and "_" (what \w matches), plus any non-ASCII code unit, to be safe. */
function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}
