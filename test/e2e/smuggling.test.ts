/**
 * End to end: the request-smuggling corpus (test/smuggling) over raw TCP against the compiled
 * binary, started alone from an empty directory in front of the mock upstream.
 *
 * For every case: the statuses of all responses on the connection, whether the server closed
 * it, the refusal's code, and exactly what reached the upstream (a count before and after, and
 * never a body marked SMUGGLED). The controls must reach the upstream, so the test can fail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { encodeCase, loadCorpus, type Case } from "../smuggling/corpus";
import { exchange, parseResponses } from "../smuggling/wire";
import { startWarden, type Running } from "./binary";

const corpus = loadCorpus();
let mock: MockUpstream;
let warden: Running;
let address: URL;

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  warden = await startWarden({
    WARDEN_UPSTREAM_MOCK_URL: mock.url,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt",
    // Below Bun's own 16 KiB head limit, so the guard's 431 is reachable.
    WARDEN_MAX_HEADER_BYTES: "8192",
    WARDEN_MAX_BODY_BYTES: "4096",
  });
  address = new URL(warden.url);
});
afterAll(async () => {
  await warden?.stop();
  await mock?.stop();
});

/** A refused request that still made it out would reach the mock within this long. */
const SETTLE_MS = 50;

async function check(c: Case): Promise<void> {
  const before = mock.requests.length;
  const sent = await exchange(address.hostname, Number(address.port), encodeCase(c.text, { host: address.host }));
  await Bun.sleep(SETTLE_MS);
  const upstream = mock.requests.slice(before);
  const responses = parseResponses(sent.bytes);

  expect(responses.map((r) => r.status)).toEqual(c.statuses);
  expect(sent.closedByServer).toBe(c.closed);
  if (Array.isArray(c.upstream)) {
    expect(upstream.length).toBeGreaterThanOrEqual(c.upstream[0]);
    expect(upstream.length).toBeLessThanOrEqual(c.upstream[1]);
  } else {
    expect(upstream.length).toBe(c.upstream);
  }
  expect(upstream.filter((r) => r.body.includes("SMUGGLED"))).toEqual([]);

  if (c.by === "accepted") {
    for (const r of responses) expect(JSON.parse(r.body).object).toBe("chat.completion");
    return;
  }
  expect(responses.filter((r) => r.status < 300)).toEqual([]);
  if (c.by === "bun") {
    // Bun's parser answers with a bare status line; a body would mean the request reached us.
    for (const r of responses) expect(r.headers["content-type"]).toBeUndefined();
  } else {
    const error = JSON.parse(responses[0].body).error;
    expect(error.code).toBe(c.code!);
    expect(error.type).toBe("invalid_request_error");
    if (c.by === "guard") expect(responses[0].headers.connection).toBe("close");
  }
}

describe("request-smuggling corpus against the binary", () => {
  for (const c of corpus) {
    const title = `${c.kind}: ${c.name} → ${c.statuses.join(", ") || "no response"} (${c.by})`;
    (c.pending === undefined ? test : test.todo)(title, () => check(c), 10_000);
  }

  test("no refusal surfaced as an internal error", () => {
    expect(warden.log()).not.toContain("unhandled error");
  });
});
