/**
 * Personal data: email addresses, phone numbers, card numbers, IBANs, US SSNs, IP addresses.
 *
 * Shape alone over-reports (order numbers, timestamps, versions, dates), so every digit rule
 * validates what it found: Luhn and issuer prefixes for cards, mod 97 for IBANs, the SSA's
 * never-issued ranges for SSNs, numbering-plan digits for US phones, public ranges for IPs.
 * Placeholders made for examples (example.com, 192.0.2.0/24, 2001:db8::/32) are not personal
 * data and are not reported.
 */
import { ibanValid, IBAN_LENGTHS, ipv4Public, ipv6Public, luhnValid, parseIpv6, ssnValid } from "./checks";
import { regexRule, type Hits, type Rule } from "./rule";

// ---------------------------------------------------------------------------------------------
// Email: found from each "@" outwards instead of by one regex. A regex like
// /[\w.+-]+@[\w-]+\.[a-z]+/ restarts its local-part scan at every position of a long run and
// goes quadratic on "aaaa…a@" input; scanning left and right from each "@" is linear.

const LOCAL_MAX = 64;
const DOMAIN_MAX = 253;

function isLocalChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
}
function isDomainChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46;
}

/** Domains reserved for examples and tests (RFC 2606, RFC 6761). */
const PLACEHOLDER_DOMAIN = /(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost|local)$/i;
/** "icon@2x.png", "bundle@1.2.js": a file name, not a two-label domain. */
const FILE_EXTENSION = /^(?:png|jpe?g|gif|svg|webp|ico|bmp|avif|css|s[ac]ss|m?js|cjs|jsx|tsx?|json|ya?ml|toml|lock|txt|md|html?|xml|map|wasm|zip|gz|tar|pdf)$/i;

function scanEmails(text: string, hits: Hits): void {
  let at = text.indexOf("@");
  while (at >= 0) {
    const next = text.indexOf("@", at + 1);
    let start = at;
    while (start > 0 && at - start < LOCAL_MAX && isLocalChar(text.charCodeAt(start - 1))) start--;
    let end = at + 1;
    const limit = Math.min(text.length, at + 1 + DOMAIN_MAX, next < 0 ? text.length : next);
    while (end < limit && isDomainChar(text.charCodeAt(end))) end++;
    // A sentence may end right after the address: drop trailing dots and hyphens.
    while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
    while (start < at && text.charCodeAt(start) === 46) start++;
    if (start < at && end > at + 1 && validEmail(text, start, at, end)) hits.add(start, end);
    at = next;
  }
}

function validEmail(text: string, start: number, at: number, end: number): boolean {
  if (isLocalChar(text.charCodeAt(start - 1)) || text.charCodeAt(at - 1) === 46) return false;
  // user@host inside a URL ("https://token@github.com", "ftp://user:pw@host") is userinfo, not
  // an address; "mailto:" is the exception.
  const before = text.charCodeAt(start - 1);
  if (before === 47 || (before === 58 && text.slice(Math.max(0, start - 7), start - 1).toLowerCase() !== "mailto")) return false;
  const local = text.slice(start, at);
  if (local.includes("..") || local.toLowerCase() === "git") return false; // git@host:repo is an SSH remote
  const domain = text.slice(at + 1, end);
  const labels = domain.split(".");
  if (labels.length < 2) return false;
  for (const label of labels) if (label.length === 0 || label.length > 63 || label[0] === "-" || label[label.length - 1] === "-") return false;
  const tld = labels[labels.length - 1]!;
  if (!/^[A-Za-z]{2,24}$/.test(tld)) return false;
  if (labels.length === 2 && FILE_EXTENSION.test(tld)) return false;
  return !PLACEHOLDER_DOMAIN.test(domain);
}

export const email: Rule = { id: "pii.email", category: "pii", label: "email", scan: scanEmails };

// ---------------------------------------------------------------------------------------------
// Phone numbers: international numbers written with a leading "+", and US/NANP numbers in
// their usual punctuated forms. Bare digit runs are never phones here: without "+" or
// punctuation they are as likely ids, amounts or timestamps.

const hasDigit = (t: string): boolean => /\d/.test(t);

export const phone: Rule = regexRule("pii.phone", "pii", "phone", {
  gate: hasDigit,
  patterns: [
    // +CC then groups that each start with a separator or "(": one way to split the digits,
    // so a failed match cannot backtrack through every partition of a long digit run.
    /(?<![\w+@/.-])\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,5}\)\d{0,8}|[ .-]\d{1,8}){1,6}(?![\w@/-]|[.,]\d)/g,
    /(?<![\w+@/.-])\+[1-9]\d{7,14}(?![\w@/.-])/g,
    // NANP: area code and exchange start with 2-9; (415) 555-0132, 415-555-0132, 415.555.0132.
    /(?<![\w+@/.-])(?:1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}([ .-]))[2-9]\d{2}[ .-]\d{4}(?![\w@/-]|[.,]\d)/g,
  ],
  accept(m) {
    const digits = m[0].replace(/\D/g, "").length;
    if (m[0][0] === "+") return digits >= 8 && digits <= 15;
    // NANP with separators: the two separators after the area code and exchange must agree
    // ("415-555-0132", not "415 555.0132"), which keeps tables of numbers out.
    const sep = m[1];
    if (sep !== undefined) {
      const second = m[0].charAt(m[0].length - 5);
      if (second !== sep) return false;
    }
    return true;
  },
});

// ---------------------------------------------------------------------------------------------
// Payment card numbers: 13-19 digits, optionally in groups, with a known issuer prefix and
// length, and a valid Luhn digit.

function cardIssuerOk(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  if (d[0] === "4") return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p6 >= 222100 && p6 <= 272099)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // American Express
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649)) return n >= 16 && n <= 19; // Discover
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19; // Diners
  if (p2 === 62) return n >= 16 && n <= 19; // UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 58) || p2 === 67) return n >= 12 && n <= 19; // Maestro
  return false;
}

/** Groups as printed on cards: 4-4-4-4(-3), or 4-6-5 / 4-6-4 (Amex, Diners). */
function cardGroupsOk(groups: string[]): boolean {
  if (groups.length === 1) return true;
  const sizes = groups.map((g) => g.length);
  if (sizes.length === 3 && sizes[0] === 4 && sizes[1] === 6 && (sizes[2] === 5 || sizes[2] === 4)) return true;
  for (let i = 0; i < sizes.length - 1; i++) if (sizes[i] !== 4) return false;
  return sizes[sizes.length - 1]! >= 1 && sizes[sizes.length - 1]! <= 4;
}

export const creditCard: Rule = regexRule("pii.credit_card", "pii", "credit_card", {
  gate: hasDigit,
  patterns: [/(?<![\w.,+-])\d(?:[ -]?\d){12,18}(?![\w-]|[.,]\d)/g],
  accept(m) {
    const raw = m[0];
    const seps = raw.replace(/\d/g, "");
    if (seps.length > 0 && seps.replaceAll(seps[0]!, "").length > 0) return false; // mixed separators
    const groups = seps.length > 0 ? raw.split(seps[0]!) : [raw];
    const digits = groups.join("");
    return cardGroupsOk(groups) && cardIssuerOk(digits) && luhnValid(digits);
  },
});

// ---------------------------------------------------------------------------------------------
// IBAN: country code, check digits, then the account part in print form (groups of four) or
// compact. The match may run on into a following upper-case word, so the registry length for
// the country decides where the IBAN ends.

export const iban: Rule = regexRule("pii.iban", "pii", "iban", {
  gate: hasDigit,
  patterns: [/(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}/g],
  accept(m, text) {
    const raw = m[0];
    const length = IBAN_LENGTHS[raw.slice(0, 2)];
    if (length === undefined) return false;
    let compact = "";
    let end = 0;
    for (let i = 0; i < raw.length && compact.length < length; i++) {
      if (raw[i] !== " ") compact += raw[i];
      end = i + 1;
    }
    if (compact.length !== length || !ibanValid(compact)) return false;
    // A longer run of characters is something else that merely starts like an IBAN.
    if (end < raw.length ? raw[end] !== " " : /[A-Za-z0-9]/.test(text.charAt(m.index + end))) return false;
    return [m.index, m.index + end];
  },
});

// ---------------------------------------------------------------------------------------------
// US Social Security numbers, written AAA-GG-SSSS (or with spaces), in issuable ranges.

export const ssn: Rule = regexRule("pii.ssn", "pii", "ssn", {
  gate: hasDigit,
  patterns: [/(?<![\w.-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-]|[.,]\d)/g],
  accept: (m) => ssnValid(m[1]!, m[3]!, m[4]!),
});

// ---------------------------------------------------------------------------------------------
// IP addresses: public IPv4 and global-unicast IPv6. Four-part version numbers look like IPv4
// addresses, so a match right after "v", "version", "build"…, "Chrome/", "==" or "^" is skipped.

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`(?<![\\w.-])${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}(?![\\w-]|\\.\\d)`, "g");
const VERSION_BEFORE = /(?:\b(?:v|ver|version|release|build|kernel|firmware|rev|revision)\s*[:=]?\s*|[A-Za-z0-9]\/|[\^~]|==)$/i;
// Runs of hex digits, colons and dots holding at least two colons; parsed and checked in code.
const IPV6 = /(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{2,42}/g;

function scanIps(text: string, hits: Hits): void {
  if (text.includes(".") && hasDigit(text)) {
    IPV4.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = IPV4.exec(text)) !== null) {
      if (VERSION_BEFORE.test(text.slice(Math.max(0, m.index - 12), m.index))) continue;
      if (ipv4Public(m[0].split(".").map(Number))) hits.add(m.index, m.index + m[0].length);
    }
  }
  if (text.includes(":")) {
    IPV6.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = IPV6.exec(text)) !== null) {
      let candidate = m[0];
      while (candidate.endsWith(".")) candidate = candidate.slice(0, -1); // end of a sentence
      const end = m.index + candidate.length;
      if (/[\w:]/.test(text.charAt(end)) || candidate.indexOf(":") === candidate.lastIndexOf(":")) continue;
      const groups = parseIpv6(candidate);
      if (groups !== undefined && ipv6Public(groups)) hits.add(m.index, end);
    }
  }
}

export const ipAddress: Rule = { id: "pii.ip_address", category: "pii", label: "ip_address", scan: scanIps };

export const PII_RULES: readonly Rule[] = [email, phone, creditCard, iban, ssn, ipAddress];
