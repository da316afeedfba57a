/**
 * Credentials with a recognisable shape: provider key prefixes, PEM private keys, JWTs.
 * (Unprefixed random-looking tokens are entropy.ts's job.)
 *
 * Each pattern starts only where the token's own alphabet does not continue to the left, so a
 * key embedded in a longer identifier is not reported, and a long run costs one attempt.
 */
import { regexRule, type Hits, type Rule } from "./rule";

/** AWS access key ids: AKIA (long-term), ASIA (STS), and the rarer ABIA/ACCA prefixes. */
const AWS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

export const awsAccessKey: Rule = regexRule("secret.aws_access_key", "secret", "aws_access_key", {
  gate: (t) => t.includes("AKIA") || t.includes("ASIA") || t.includes("ABIA") || t.includes("ACCA"),
  patterns: [AWS_KEY_ID],
});

// A secret access key is 40 characters of base64 with nothing to mark it, so it is only
// reported next to its name (aws_secret_access_key = …, "SecretAccessKey": "…") or within a
// short distance after an access key id, as in pasted credential files and CSV exports.
const SECRET_AFTER_NAME =
  /(?:secret[ _.-]?(?:access[ _.-]?)?key)["'`]?\s*(?:=>|[:=])\s*["'`]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;
const FORTY = /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/;
const NEAR_KEY_ID = 160;

function mixed(s: string): boolean {
  return /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9/+]/.test(s);
}

function scanAwsSecret(text: string, hits: Hits): void {
  if (text.includes("ecret") || text.includes("ECRET")) {
    SECRET_AFTER_NAME.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = SECRET_AFTER_NAME.exec(text)) !== null) {
      const end = m.index + m[0].length;
      hits.add(end - 40, end);
    }
  }
  if (!(text.includes("AKIA") || text.includes("ASIA"))) return;
  AWS_KEY_ID.lastIndex = 0;
  let id: RegExpExecArray | null;
  while ((id = AWS_KEY_ID.exec(text)) !== null) {
    // Look only in a short window after the id, so many ids cost no more than the text.
    const from = id.index + id[0].length;
    const m = FORTY.exec(text.slice(from, from + NEAR_KEY_ID + 41));
    if (m !== null && mixed(m[0])) hits.add(from + m.index, from + m.index + 40);
  }
}

export const awsSecretKey: Rule = { id: "secret.aws_secret_key", category: "secret", label: "aws_secret_key", scan: scanAwsSecret };

export const githubToken: Rule = regexRule("secret.github_token", "secret", "github_token", {
  gate: (t) => t.includes("gh") || t.includes("github_pat_"),
  patterns: [/(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/g],
});

export const slackToken: Rule = regexRule("secret.slack_token", "secret", "slack_token", {
  gate: (t) => t.includes("xox"),
  patterns: [/(?<![A-Za-z0-9_-])xox[abposre]-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9_-])/g],
  accept: (m) => /\d/.test(m[0]),
});

export const slackWebhook: Rule = regexRule("secret.slack_webhook", "secret", "slack_webhook", {
  gate: (t) => t.includes("hooks.slack.com"),
  patterns: [/https?:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,250}/g],
});

export const stripeKey: Rule = regexRule("secret.stripe_key", "secret", "stripe_key", {
  gate: (t) => t.includes("k_live_") || t.includes("k_test_"),
  patterns: [/(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])/g],
});

// OpenAI: project, service-account and admin keys (sk-proj-…, sk-svcacct-…, sk-admin-…), and the
// older sk-<48 alphanumerics>, which many OpenAI-compatible providers copy (usually 32+ chars).
// Anthropic's sk-ant-… never matches here: "ant" is followed by "-".
export const openaiKey: Rule = regexRule("secret.openai_key", "secret", "openai_key", {
  gate: (t) => t.includes("sk-"),
  patterns: [
    /(?<![A-Za-z0-9_-])sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,300}(?![A-Za-z0-9_-])/g,
    /(?<![A-Za-z0-9_-])sk-[A-Za-z0-9]{32,200}(?![A-Za-z0-9_-])/g,
  ],
  accept: (m) => /[0-9]/.test(m[0]) && /[A-Za-z]/.test(m[0].slice(3)),
});

export const anthropicKey: Rule = regexRule("secret.anthropic_key", "secret", "anthropic_key", {
  gate: (t) => t.includes("sk-ant-"),
  patterns: [/(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{32,300}(?![A-Za-z0-9_-])/g],
});

// A PEM private key block: from BEGIN to the matching END line, or to the end of the text when
// the paste was cut off (half a key is still a leaked key).
const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?)-----/g;

function scanPrivateKeys(text: string, hits: Hits): void {
  if (!text.includes("PRIVATE KEY")) return;
  PEM_BEGIN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PEM_BEGIN.exec(text)) !== null) {
    const endMarker = `-----END ${m[1]}-----`;
    const at = text.indexOf(endMarker, m.index + m[0].length);
    const end = at < 0 ? text.length : at + endMarker.length;
    hits.add(m.index, end);
    PEM_BEGIN.lastIndex = end;
  }
}

export const privateKey: Rule = { id: "secret.private_key", category: "secret", label: "private_key", scan: scanPrivateKeys };

// JWT: three base64url parts; the header must decode to a JSON object with an "alg", which
// tells a token from any other dotted identifier starting with "eyJ".
export const jwt: Rule = regexRule("secret.jwt", "secret", "jwt", {
  gate: (t) => t.includes("eyJ"),
  patterns: [/(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{4,16384}\.[A-Za-z0-9_-]{0,4096}(?![A-Za-z0-9_-])/g],
  accept(m) {
    const header = m[0].slice(0, m[0].indexOf("."));
    try {
      const json: unknown = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
      return json !== null && typeof json === "object" && typeof (json as { alg?: unknown }).alg === "string";
    } catch {
      return false;
    }
  },
});

export const SECRET_RULES: readonly Rule[] = [
  awsAccessKey,
  awsSecretKey,
  githubToken,
  slackToken,
  slackWebhook,
  stripeKey,
  openaiKey,
  anthropicKey,
  privateKey,
  jwt,
];
