/**
 * The request-smuggling corpus: raw HTTP/1.1 requests in `cases/*.http`, expectations in
 * `manifest.json`. See README.md in this folder for the file format.
 *
 * @example
 * const cases = loadCorpus();
 * const parts = encodeCase(cases[0].text, { host: "127.0.0.1:8080" }); // Uint8Array[] to send
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dir;

export interface Expectation {
  /** File stem in cases/. */
  name: string;
  kind: string;
  what: string;
  /** Who refuses it: Bun's parser, our guard, a later stage of Warden, or nobody (accepted). */
  by: "bun" | "guard" | "warden" | "accepted";
  /** Status of every response on the connection, in order; [] when none comes. */
  statuses: number[];
  /** The stable error code of the refusal, when Warden (not Bun) refuses. */
  code?: string;
  /** The server closes the connection after its last response. */
  closed: boolean;
  /**
   * How many requests the upstream receives: exactly this many, or `[min, max]` where Bun's
   * timing decides whether a legitimate first request got out before its connection died.
   */
  upstream: number | [number, number];
  /** Set when this is the behaviour wanted but not reached yet: why, and what would fix it. */
  pending?: string;
}

export interface Case extends Expectation {
  text: string;
}

/** Every manifest entry with its case file; throws if a file lacks an entry or vice versa. */
export function loadCorpus(): Case[] {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { cases: Expectation[] };
  const files = new Set(readdirSync(join(dir, "cases")).filter((f) => f.endsWith(".http")).map((f) => f.slice(0, -5)));
  const named = new Set(manifest.cases.map((c) => c.name));
  const unlisted = [...files].filter((f) => !named.has(f));
  const missing = [...named].filter((n) => !files.has(n));
  if (unlisted.length > 0 || missing.length > 0 || named.size !== manifest.cases.length) {
    throw new Error(`corpus and manifest disagree: unlisted ${unlisted.join(", ")}; missing ${missing.join(", ")}`);
  }
  return manifest.cases.map((c) => ({ ...c, text: readFileSync(join(dir, "cases", `${c.name}.http`), "latin1") }));
}

const ESCAPES: Record<string, string> = { r: "\r", n: "\n", t: "\t", "\\": "\\", $: "$" };

/** Expands one `${...}` directive (except `${pause}`, which splits). */
function directive(body: string, vars: { host: string }): string {
  if (body === "host") return vars.host;
  const repeat = /^repeat:(\d+):(.)$/.exec(body);
  if (repeat) return repeat[2].repeat(Number(repeat[1]));
  const fields = /^fields:(\d+)$/.exec(body);
  if (fields) return Array.from({ length: Number(fields[1]) }, (_, i) => `X-Filler-${i}: v\r\n`).join("");
  throw new Error(`unknown directive \${${body}}`);
}

/**
 * The bytes of a case, split where it says `${pause}`. The file's own line breaks are layout
 * only; every byte sent is written out (`\r`, `\n`, `\t`, `\xHH`, `\\`, `\$`).
 */
export function encodeCase(text: string, vars: { host: string }): Uint8Array[] {
  const parts: string[] = [];
  let out = "";
  const src = text.replace(/[\r\n]/g, "");
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "\\") {
      const next = src[i + 1];
      if (next === "x") {
        out += String.fromCharCode(parseInt(src.slice(i + 2, i + 4), 16));
        i += 3;
      } else if (next in ESCAPES) {
        out += ESCAPES[next];
        i += 1;
      } else throw new Error(`unknown escape \\${next}`);
    } else if (c === "$" && src[i + 1] === "{") {
      const end = src.indexOf("}", i);
      const body = src.slice(i + 2, end);
      if (body === "pause") {
        parts.push(out);
        out = "";
      } else out += directive(body, vars);
      i = end;
    } else out += c;
  }
  parts.push(out);
  return parts.map((p) => Buffer.from(p, "latin1"));
}
