import { describe, expect, test } from "bun:test";
import { ibanValid, ipv4Public, ipv6Public, luhnValid, parseIpv6, ssnValid } from "./checks";

describe("luhnValid", () => {
  test("accepts published test card numbers", () => {
    for (const n of ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "3530111333300000"]) expect(luhnValid(n)).toBe(true);
  });
  test("rejects a changed digit, a swap of unequal neighbours, and non-digits", () => {
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(luhnValid("4111111111111121")).toBe(false);
    expect(luhnValid("41111111111111a1")).toBe(false);
    expect(luhnValid("")).toBe(false);
  });
});

describe("ibanValid", () => {
  test("accepts valid IBANs of several countries", () => {
    for (const iban of ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300", "NO9386011117947"]) {
      expect(ibanValid(iban)).toBe(true);
    }
  });
  test("rejects a wrong check digit, a wrong length and an unknown country", () => {
    expect(ibanValid("GB82WEST12345698765433")).toBe(false);
    expect(ibanValid("DE8937040044053201300")).toBe(false); // one digit short for DE
    expect(ibanValid("XX82WEST12345698765432")).toBe(false);
    expect(ibanValid("gb82west12345698765432")).toBe(false); // compact upper-case form only
  });
});

describe("ssnValid", () => {
  test("accepts an issuable number", () => expect(ssnValid("536", "22", "1234")).toBe(true));
  test("rejects area 000, 666 and 900-999, group 00 and serial 0000", () => {
    expect(ssnValid("000", "12", "3456")).toBe(false);
    expect(ssnValid("666", "12", "3456")).toBe(false);
    expect(ssnValid("900", "12", "3456")).toBe(false);
    expect(ssnValid("999", "12", "3456")).toBe(false);
    expect(ssnValid("123", "00", "3456")).toBe(false);
    expect(ssnValid("123", "45", "0000")).toBe(false);
  });
});

describe("IP ranges", () => {
  test("public IPv4 addresses pass, private and reserved ranges do not", () => {
    expect(ipv4Public([8, 8, 8, 8])).toBe(true);
    expect(ipv4Public([172, 32, 0, 1])).toBe(true);
    for (const o of [[10, 1, 2, 3], [127, 0, 0, 1], [172, 16, 5, 4], [192, 168, 0, 1], [169, 254, 1, 1], [100, 64, 0, 1], [192, 0, 2, 7], [198, 51, 100, 7], [203, 0, 113, 7], [224, 0, 0, 1], [255, 255, 255, 0], [0, 0, 0, 0]]) {
      expect({ o, public: ipv4Public(o) }).toEqual({ o, public: false });
    }
  });

  test("parseIpv6 expands :: and embedded IPv4, and refuses malformed text", () => {
    expect(parseIpv6("2001:db8::1")).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("::ffff:192.0.2.1")).toEqual([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]);
    expect(parseIpv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const bad of ["1::2::3", "12345::1", "1:2:3", "10:30:00", "g::1", "1:2:3:4:5:6:7:8:9"]) expect({ bad, parsed: parseIpv6(bad) }).toEqual({ bad, parsed: undefined });
  });

  test("only global unicast IPv6 outside the documentation prefix is public", () => {
    expect(ipv6Public(parseIpv6("2606:4700:4700::1111")!)).toBe(true);
    for (const a of ["2001:db8::1", "::1", "fe80::1", "fd00::1", "ff02::1", "::"]) expect({ a, public: ipv6Public(parseIpv6(a)!) }).toEqual({ a, public: false });
  });
});
