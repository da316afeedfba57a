/**
 * A small parser for the Prometheus text exposition format (version 0.0.4), the body of
 * GET /metrics, for the dashboard's browser script.
 *
 * It reads what prom-client writes and what the format allows around it: `# HELP` and `# TYPE`
 * lines, other comments, label values with `\\`, `\"` and `\n` escapes, `NaN` and `±Inf`
 * values and optional timestamps. A histogram's `_bucket`, `_sum` and `_count` samples (and a
 * summary's `_sum` and `_count`) are filed under the family that `# TYPE` declared, so callers
 * ask for `warden_gateway_duration_seconds`, not for its parts.
 *
 * A malformed line throws, naming the line: the gateway wrote it, so it is a bug worth seeing
 * on the page rather than a number silently missing.
 *
 * @example
 * const m = parseExposition('# TYPE warden_requests_total counter\nwarden_requests_total{status="200"} 3\n');
 * total(m, "warden_requests_total"); // 3
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  /** The sample's own name: `x_bucket` for a bucket of histogram `x`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

/** Families by name. */
export type Exposition = Map<string, Family>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set<MetricType>(["counter", "gauge", "histogram", "summary", "untyped"]);
/** Suffixes a histogram's or summary's samples add to the family name. */
const SUFFIXES: Record<string, readonly string[]> = {
  histogram: ["_bucket", "_sum", "_count", "_created"],
  summary: ["_sum", "_count", "_created"],
};

export function parseExposition(text: string): Exposition {
  const families: Exposition = new Map();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { name, type: "untyped", help: "", samples: [] }));
    return f;
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const fail = (why: string): never => {
      throw new SyntaxError(`metrics line ${i + 1}: ${why}: ${line.slice(0, 120)}`);
    };
    if (line.startsWith("#")) {
      const m = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (m === null) continue; // any other comment
      const f = family(m[2]!);
      if (m[1] === "HELP") f.help = unescape(m[3] ?? "", false);
      else {
        const type = (m[3] ?? "").trim() as MetricType;
        if (!TYPES.has(type)) fail(`unknown metric type '${type}'`);
        f.type = type;
      }
      continue;
    }
    const sample = parseSample(line, fail);
    family(familyOf(families, sample.name)).samples.push(sample);
  }
  return families;
}

/** The family a sample belongs to: its own name, or the histogram/summary it is a part of. */
function familyOf(families: Exposition, name: string): string {
  if (families.has(name) && families.get(name)!.type !== "untyped") return name;
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const suffix of suffixes) {
      if (!name.endsWith(suffix)) continue;
      const base = name.slice(0, -suffix.length);
      if (families.get(base)?.type === type) return base;
    }
  }
  return name;
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const nameMatch = NAME.exec(line);
  if (nameMatch === null) return fail("expected a metric name");
  const name = nameMatch[0];
  let at = name.length;
  const labels: Record<string, string> = {};
  const skipSpaces = () => {
    while (line[at] === " " || line[at] === "\t") at++;
  };
  skipSpaces();
  if (line[at] === "{") {
    at++;
    for (;;) {
      skipSpaces();
      if (line[at] === "}") break;
      const labelMatch = LABEL_NAME.exec(line.slice(at));
      if (labelMatch === null) fail("expected a label name");
      const label = labelMatch![0];
      at += label.length;
      skipSpaces();
      if (line[at] !== "=") fail(`expected '=' after label ${label}`);
      at++;
      skipSpaces();
      if (line[at] !== '"') fail(`expected a quoted value for label ${label}`);
      at++;
      let raw = "";
      while (at < line.length && line[at] !== '"') {
        if (line[at] === "\\") raw += line[at++];
        raw += line[at++] ?? "";
      }
      if (line[at] !== '"') fail(`unterminated value of label ${label}`);
      at++;
      labels[label] = unescape(raw, true);
      skipSpaces();
      if (line[at] === ",") at++;
      else if (line[at] !== "}") fail("expected ',' or '}' after a label");
    }
    at++; // the "}"
  }
  const rest = line.slice(at).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === "") fail("expected a value (and an optional timestamp)");
  const value = parseValue(rest[0]!);
  if (value === undefined) fail(`'${rest[0]}' is not a number`);
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1]!)) fail(`'${rest[1]}' is not a timestamp`);
  return { name, labels, value: value! };
}

function parseValue(text: string): number | undefined {
  switch (text) {
    case "NaN":
      return NaN;
    case "+Inf":
    case "Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
  }
  // Number("") and Number("0x10") are numbers too; the format allows only decimal floats.
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** Label values escape `\\`, `\"` and `\n`; HELP text escapes `\\` and `\n`. */
function unescape(raw: string, quotes: boolean): string {
  return raw.replace(/\\(.)/g, (whole, c: string) => (c === "n" ? "\n" : c === "\\" ? "\\" : quotes && c === '"' ? '"' : whole));
}

/** Does `sample` carry every label in `match` with that value? */
export function matches(sample: Sample, match: Record<string, string> = {}): boolean {
  for (const k in match) if (sample.labels[k] !== match[k]) return false;
  return true;
}

/**
 * Sum of a counter's or gauge's samples (those matching `match`); 0 when the family is absent,
 * as a counter nobody has incremented yet is simply not written by some clients.
 */
export function total(m: Exposition, family: string, match?: Record<string, string>): number {
  let sum = 0;
  for (const s of m.get(family)?.samples ?? []) if (s.name === family && matches(s, match)) sum += s.value;
  return sum;
}

/**
 * A counter's or gauge's samples summed by the value of one label.
 *
 * @example
 * totalsBy(m, "warden_refusals_total", "stage"); // Map { "auth" => 4, "waf" => 1 }
 */
export function totalsBy(m: Exposition, family: string, label: string, match?: Record<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of m.get(family)?.samples ?? []) {
    if (s.name !== family || !matches(s, match)) continue;
    const key = s.labels[label] ?? "";
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}
