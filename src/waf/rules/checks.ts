/**
 * Checksums and validity tests that turn digit-shaped matches into real findings: a random
 * 16-digit number is not a card number unless its Luhn digit agrees, a random "DE89…" is not an
 * IBAN unless mod 97 leaves 1. These are what keep order numbers, timestamps and ids out of the
 * findings.
 */

/**
 * Luhn (mod 10) check over a string of ASCII digits.
 *
 * @example
 * luhnValid("4111111111111111"); // true
 */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** IBAN length by ISO 3166 country code (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/**
 * ISO 13616 check: known country, registry length, and mod 97 = 1 after moving the first four
 * characters to the end and mapping letters to 10..35. Takes the compact form (no spaces).
 *
 * @example
 * ibanValid("GB82WEST12345698765432"); // true
 */
export function ibanValid(iban: string): boolean {
  const length = IBAN_LENGTHS[iban.slice(0, 2)];
  if (length === undefined || iban.length !== length) return false;
  let rest = 0;
  for (let k = 0; k < iban.length; k++) {
    const i = (k + 4) % iban.length; // rotate the country code and check digits to the end
    const c = iban.charCodeAt(i);
    if (c >= 48 && c <= 57) rest = (rest * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rest = (rest * 100 + (c - 55)) % 97;
    else return false;
  }
  return rest === 1;
}

/**
 * Could this be an issued US Social Security number? The SSA never issues area 000, 666 or
 * 900–999, group 00 or serial 0000.
 *
 * @example
 * ssnValid("123", "45", "6789"); // true
 * ssnValid("666", "45", "6789"); // false
 */
export function ssnValid(area: string, group: string, serial: string): boolean {
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000";
}

/**
 * Is a dotted IPv4 address (octets already range-checked) publicly routable? Private, loopback,
 * link-local, CGNAT, documentation, benchmark, multicast and reserved ranges say nothing about a
 * person: they fill configs and tutorials, so they are not reported.
 *
 * @example
 * ipv4Public([8, 8, 8, 8]); // true
 * ipv4Public([192, 168, 1, 10]); // false
 */
export function ipv4Public(o: readonly number[]): boolean {
  const [a, b, c] = o as [number, number, number, number];
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false;
  if (a === 198 && (b === 18 || b === 19)) return false;
  if (a === 198 && b === 51 && c === 100) return false;
  if (a === 203 && b === 0 && c === 113) return false;
  return true;
}

/**
 * Parses an IPv6 address (with at most one `::` and an optional dotted IPv4 tail) into its eight
 * 16-bit groups, or undefined when it is not one.
 *
 * @example
 * parseIpv6("2001:db8::1"); // [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]
 */
export function parseIpv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string, allowV4: boolean): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const groups = part.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (allowV4 && i === groups.length - 1 && g.includes(".")) {
        const v4 = g.split(".");
        if (v4.length !== 4 || v4.some((x) => !/^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(x))) return undefined;
        const n = v4.map(Number);
        out.push((n[0]! << 8) | n[1]!, (n[2]! << 8) | n[3]!);
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  if (halves.length === 1) {
    const all = parse(halves[0]!, true);
    return all !== undefined && all.length === 8 ? all : undefined;
  }
  const head = parse(halves[0]!, false);
  const tail = parse(halves[1]!, true);
  if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * Is an IPv6 address a global unicast one (2000::/3, the only range handed out to networks),
 * outside the 2001:db8::/32 documentation prefix? Loopback, link-local, unique-local and
 * multicast addresses identify no one.
 *
 * @example
 * ipv6Public(parseIpv6("2606:4700:4700::1111")!); // true
 */
export function ipv6Public(groups: readonly number[]): boolean {
  const first = groups[0]!;
  if (first < 0x2000 || first > 0x3fff) return false;
  return !(first === 0x2001 && groups[1] === 0x0db8);
}
