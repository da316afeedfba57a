/**
 * Stage 3, the WAF: looks at the text of a request and blocks, redacts or flags what the policy
 * says: prompt injections, personal data, credentials.
 *
 * Per request: the policy is resolved to one action per rule (cached per policy object), the
 * request's strings are collected with their locations, each string is turned into its scan
 * views (normalise.ts), every rule whose action is not `off` runs over every view, and the
 * corroborated random-looking tokens of all strings are scored for entropy by the Rust core in
 * ONE batched call. A rule set to `off` costs nothing.
 *
 * Redaction cuts the original string: each match maps back through its view to exact original
 * offsets, so a match found only after folding ("ѕk-…" with a Cyrillic ѕ, a zero-width space
 * inside a key) redacts the original characters it came from, invisible ones included. A match
 * inside a base64 or %-encoded payload redacts the whole encoded run it was decoded from.
 * Overlapping redactions merge into one `[REDACTED:<label>]`, labelled by the earliest match.
 *
 * Findings name the rule, its category, the action and the location, never the matched text:
 * they go into the audit ledger, which must not receive the secrets the WAF removed.
 */
import { GatewayError } from "../errors";
import { scanViews, originalSpan, type View } from "./normalise";
import { actionFor, type WafAction, type WafPolicy } from "./policy";
import { entropyCandidates, entropyThreshold } from "./rules/entropy";
import { HIGH_ENTROPY, MATCH_RULES, type Category, type Hits, type Rule } from "./rules";
import { collectTargets, paramOf, withReplacements, type Endpoint, type Path, type Target } from "./targets";

export { parseBody, jsonDepth } from "./json";
export { validateBody } from "./validate";
export { ACTIONS, DEFAULT_POLICY, mergePolicies, parsePolicy, actionFor, type WafAction, type WafPolicy } from "./policy";
export { CATEGORIES, RULE_IDS, type Category } from "./rules";
export type { Endpoint } from "./targets";

/** One rule that matched at one location. Safe to log and to audit: it holds no matched text. */
export interface Finding {
  /** Rule id, e.g. `secret.aws_access_key`. */
  rule: string;
  category: Category;
  /** What the policy made of it. */
  action: Exclude<WafAction, "off">;
  /** Where, as an OpenAI-style param path: `messages[1].content`, `input[3]`. */
  param: string;
}

export interface WafVerdict {
  /** Every rule that matched, once per location, in request order. */
  findings: Finding[];
  /** The first finding whose action is `block`; the request must be refused with wafError(). */
  blocked: Finding | undefined;
  /** The body to forward: a redacted copy when something was redacted, else the same object. */
  body: Record<string, unknown>;
  redacted: boolean;
}

export interface Waf {
  /**
   * Scans the (already validated) body of a request to `endpoint` under `policy`.
   * Policies are treated as immutable: the resolved plan is cached per policy object.
   */
  inspect(endpoint: Endpoint, body: Record<string, unknown>, policy: WafPolicy): WafVerdict;
}

/** Byte entropy of many spans in one call: NativeCore.byteEntropy. */
export type EntropyBatch = (spans: Uint8Array[]) => Float64Array;

/**
 * The refusal for a blocked request: 403 `content_policy_violation`, naming the rule and the
 * location, with the rule id in `x-warden-rule` for clients and proxies that branch on it.
 *
 * @example
 * if (verdict.blocked) throw wafError(verdict.blocked);
 */
export function wafError(finding: Finding): GatewayError {
  return new GatewayError(
    403,
    `This request was blocked by content policy rule ${finding.rule} in ${finding.param}.`,
    "invalid_request_error",
    "content_policy_violation",
    finding.param,
    { "x-warden-rule": finding.rule },
  );
}

// ------------------------------------------------------------------------------------------------

const ACTION_CODE: Record<WafAction, number> = { off: 0, flag: 1, redact: 2, block: 3 };
const CODE_ACTION = ["off", "flag", "redact", "block"] as const;

/** Rule index used for the entropy rule in hit records (after every match rule). */
const ENTROPY_INDEX = MATCH_RULES.length;
const LABELS = [...MATCH_RULES.map((r) => r.label), HIGH_ENTROPY.label];
const IDS = [...MATCH_RULES.map((r) => r.id), HIGH_ENTROPY.id];
const CATS: Category[] = [...MATCH_RULES.map((r) => r.category), HIGH_ENTROPY.category];

interface Plan {
  /** Action code per rule index (match rules, then the entropy rule). */
  actions: Uint8Array;
  /** The match rules to run, with their indices. */
  active: { rule: Rule; index: number }[];
  /** Is secret.high_entropy on? */
  entropy: boolean;
  /** Is every rule off? Then inspect returns at once. */
  none: boolean;
}

function makePlan(policy: WafPolicy): Plan {
  const actions = new Uint8Array(MATCH_RULES.length + 1);
  const active: Plan["active"] = [];
  MATCH_RULES.forEach((rule, index) => {
    actions[index] = ACTION_CODE[actionFor(policy, rule.id, rule.category)] ?? 0;
    if (actions[index] !== 0) active.push({ rule, index });
  });
  actions[ENTROPY_INDEX] = ACTION_CODE[actionFor(policy, HIGH_ENTROPY.id, HIGH_ENTROPY.category)] ?? 0;
  const entropy = actions[ENTROPY_INDEX] !== 0;
  return { actions, active, entropy, none: active.length === 0 && !entropy };
}

/**
 * Collects the hits of one inspect call: flat [target, rule, start, end] quadruples in original
 * offsets. One object reused for every rule and view, so scanning allocates nothing until
 * something matches.
 */
class HitLog implements Hits {
  target = 0;
  rule = 0;
  view: View = { text: "", from: null, to: null };
  readonly hits: number[] = [];

  add(start: number, end: number): void {
    if (end <= start) return;
    const [s, e] = originalSpan(this.view, start, end);
    this.hits.push(this.target, this.rule, s, e);
  }
}

interface Candidate {
  target: number;
  /** Span in the original string (what gets redacted). */
  start: number;
  end: number;
  /** The token as the view read it (what gets scored): folded, decoded. */
  token: string;
  hex: boolean;
}

const encoder = new TextEncoder();

/**
 * Builds the WAF around the Rust core's batched entropy function.
 *
 * @example
 * const waf = createWaf((spans) => core.byteEntropy(spans));
 * const verdict = waf.inspect("chat/completions", body, mergePolicies(DEFAULT_POLICY, tenantPolicy));
 * if (verdict.blocked) throw wafError(verdict.blocked);
 */
export function createWaf(entropy: EntropyBatch): Waf {
  const plans = new WeakMap<WafPolicy, Plan>();
  const planFor = (policy: WafPolicy): Plan => {
    let plan = plans.get(policy);
    if (plan === undefined) {
      plan = makePlan(policy);
      plans.set(policy, plan);
    }
    return plan;
  };

  function inspect(endpoint: Endpoint, body: Record<string, unknown>, policy: WafPolicy): WafVerdict {
    const plan = planFor(policy);
    if (plan.none) return { findings: [], blocked: undefined, body, redacted: false };
    const targets = collectTargets(endpoint, body);
    const log = new HitLog();
    const candidates: Candidate[] = [];

    for (let t = 0; t < targets.length; t++) {
      log.target = t;
      const views = scanViews(targets[t]!.text);
      for (const view of views) {
        log.view = view;
        for (const { rule, index } of plan.active) {
          log.rule = index;
          rule.scan(view.text, log);
        }
        if (plan.entropy) {
          entropyCandidates(view.text, (start, end, hex) => {
            const [s, e] = originalSpan(view, start, end);
            candidates.push({ target: t, start: s, end: e, token: view.text.slice(start, end), hex });
          });
        }
      }
    }
    if (candidates.length > 0) scoreCandidates(candidates, log.hits, entropy);
    if (log.hits.length === 0) return { findings: [], blocked: undefined, body, redacted: false };
    return verdict(targets, log.hits, plan, body);
  }

  return { inspect };
}

/**
 * Scores every candidate of the request in one entropy call and logs those above threshold,
 * unless a specific secret rule already matched the same characters.
 */
function scoreCandidates(candidates: Candidate[], hits: number[], entropy: EntropyBatch): void {
  const unique = dedupe(candidates);
  const spans = unique.map((c) => encoder.encode(c.token));
  const bits = entropy(spans);
  for (let i = 0; i < unique.length; i++) {
    const c = unique[i]!;
    if (bits[i]! < entropyThreshold(c.token.length, c.hex)) continue;
    if (overlapsSecret(hits, c)) continue;
    hits.push(c.target, ENTROPY_INDEX, c.start, c.end);
  }
}

function dedupe(candidates: Candidate[]): Candidate[] {
  if (candidates.length < 2) return candidates;
  const seen = new Set<string>();
  return candidates.filter((c) => {
    const key = `${c.target}:${c.start}:${c.end}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function overlapsSecret(hits: number[], c: Candidate): boolean {
  for (let i = 0; i < hits.length; i += 4) {
    if (hits[i] === c.target && CATS[hits[i + 1]!] === "secret" && hits[i + 2]! < c.end && c.start < hits[i + 3]!) return true;
  }
  return false;
}

function verdict(targets: Target[], hits: number[], plan: Plan, body: Record<string, unknown>): WafVerdict {
  // One finding per (location, rule), in request order then rule order.
  const keys = new Set<number>();
  const order: [number, number][] = [];
  const stride = ENTROPY_INDEX + 1;
  for (let i = 0; i < hits.length; i += 4) {
    const key = hits[i]! * stride + hits[i + 1]!;
    if (keys.has(key)) continue;
    keys.add(key);
    order.push([hits[i]!, hits[i + 1]!]);
  }
  order.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const params = new Map<number, string>();
  const findings: Finding[] = order.map(([t, r]) => {
    let param = params.get(t);
    if (param === undefined) params.set(t, (param = paramOf(targets[t]!.path)));
    return { rule: IDS[r]!, category: CATS[r]!, action: CODE_ACTION[plan.actions[r]!] as Finding["action"], param };
  });
  const blocked = findings.find((f) => f.action === "block");
  if (blocked !== undefined) return { findings, blocked, body, redacted: false };

  const replacements: [Path, string][] = [];
  for (let t = 0; t < targets.length; t++) {
    const spans: [number, number, number][] = [];
    for (let i = 0; i < hits.length; i += 4) {
      if (hits[i] === t && plan.actions[hits[i + 1]!] === ACTION_CODE.redact) spans.push([hits[i + 2]!, hits[i + 3]!, hits[i + 1]!]);
    }
    if (spans.length > 0) replacements.push([targets[t]!.path, redact(targets[t]!.text, spans)]);
  }
  if (replacements.length === 0) return { findings, blocked: undefined, body, redacted: false };
  return { findings, blocked: undefined, body: withReplacements(body, replacements), redacted: true };
}

/**
 * `text` with each span replaced by `[REDACTED:<label>]`; overlapping or touching spans merge
 * and take the label of the one that starts first (the longer one on a tie).
 *
 * @example
 * redact("mail bob@corp.io now", [[5, 16, emailRuleIndex]]); // "mail [REDACTED:email] now"
 */
export function redact(text: string, spans: [start: number, end: number, rule: number][]): string {
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let out = "";
  let at = 0;
  for (let i = 0; i < spans.length; ) {
    const [start, , rule] = spans[i]!;
    let end = spans[i]![1];
    let j = i + 1;
    while (j < spans.length && spans[j]![0] <= end) end = Math.max(end, spans[j++]![1]);
    out += `${text.slice(at, start)}[REDACTED:${LABELS[rule]}]`;
    at = end;
    i = j;
  }
  return out + text.slice(at);
}

/** Index of a rule id in redact()'s span triples (for tests and tools). */
export function ruleIndex(id: string): number {
  return IDS.indexOf(id);
}
