/**
 * The dashboard end to end: the compiled binary serving GET /dashboard from an empty directory,
 * Debian's Chromium driven by playwright-core, the mock upstream behind the gateway.
 *
 * Sign-in (a wrong key shows an error), live numbers that move while load runs, a ledger record
 * verified in the browser, the same record tampered with and failing, and the page's every
 * request staying on the gateway's origin. Screenshots go to test-artifacts/dashboard/
 * (gitignored) for a human to look at.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { generateKey } from "../../src/audit/note";
import { runOnce, startWarden, type Running } from "./binary";

const MASTER = "e2e-dashboard-master-0123456789";
const ARTIFACTS = resolve(import.meta.dir, "../../test-artifacts/dashboard");
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let mock: MockUpstream;
let warden: Running;
let browser: Browser;
let page: Page;
/** Every URL the dashboard page asked for, and every script error it raised. */
const requested: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  mock = await startMockUpstream({ port: 0, record: false });
  warden = await startWarden({
    WARDEN_MASTER_KEY: MASTER,
    WARDEN_UPSTREAM_MOCK_URL: mock.url,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt",
    WARDEN_CHECKPOINT_INTERVAL_MS: "200",
  });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("request", (r) => requested.push(r.url()));
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

afterAll(async () => {
  await browser?.close();
  await warden?.stop();
  await mock?.stop();
});

/** Chat completions in a loop, `parallel` at a time, half of them streamed, until stopped. */
function startLoad(url: string, key: string | undefined, parallel = 4) {
  let running = true;
  let sent = 0;
  const headers: Record<string, string> = { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };
  const worker = async (n: number) => {
    while (running) {
      const stream = (sent + n) % 2 === 0;
      const body = JSON.stringify({ model: "mock-gpt", stream, messages: [{ role: "user", content: `load ${sent}` }] });
      const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers, body });
      await res.arrayBuffer();
      sent++;
      await Bun.sleep(5);
    }
  };
  const done = Promise.all(Array.from({ length: parallel }, (_, i) => worker(i)));
  return {
    sent: () => sent,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** A number the page shows (thousands separators and all), or NaN for "—". */
async function shown(p: Page, testId: string): Promise<number> {
  const text = ((await p.getByTestId(testId).textContent()) ?? "").trim();
  return text === "—" || text === "" ? NaN : Number(text.replace(/,/g, ""));
}

describe("the dashboard in Chromium, served by the compiled binary", () => {
  test("a wrong admin key is refused with a visible error, and nothing is stored", async () => {
    await page.goto(`${warden.url}/dashboard`);
    await page.locator("#login-form").waitFor({ state: "visible" });
    expect(await page.locator("#dashboard").isVisible()).toBe(false);
    await page.fill("#login-key", `${MASTER}-wrong`);
    await page.click("#login-form button[type=submit]");
    const error = page.getByTestId("login-error");
    await error.waitFor({ state: "visible", timeout: 5000 });
    expect(await error.textContent()).toContain("refused");
    expect(await page.locator("#dashboard").isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, "1-login-wrong-key.png") });
  });

  test("the master key opens the dashboard; the request counter and rate rise while load runs", async () => {
    await page.fill("#login-key", MASTER);
    await page.click("#login-form button[type=submit]");
    await page.locator("#dashboard").waitFor({ state: "visible", timeout: 5000 });
    expect(await page.getByTestId("login-error").isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.getItem("warden.adminKey"))).toBe(MASTER);
    // The first scrape shows totals (0 so far), before any load.
    await page.waitForFunction(() => document.querySelector('[data-testid="request-total"]')?.textContent !== "—", null, { timeout: 5000 });
    const before = await shown(page, "request-total");
    expect(before).toBe(0);

    const load = startLoad(warden.url, MASTER);
    try {
      // Two scrapes ~2 s apart with load between them: a rate, and a total that grew.
      await page.waitForFunction(
        () => Number(document.querySelector('[data-testid="request-rate"]')?.textContent?.replace(/,/g, "")) > 1,
        null,
        { timeout: 15_000, polling: 200 },
      );
      const first = await shown(page, "request-total");
      expect(first).toBeGreaterThan(before);
      await page.waitForFunction(
        (n) => Number(document.querySelector('[data-testid="request-total"]')?.textContent?.replace(/,/g, "")) > n,
        first,
        { timeout: 10_000, polling: 200 },
      );
      const second = await shown(page, "request-total");
      expect(second).toBeGreaterThan(first);
      // The page's count never runs ahead of what the load actually sent.
      expect(second).toBeLessThanOrEqual(load.sent() + 4);
      expect(await shown(page, "request-rate")).toBeGreaterThan(1);
      // Latency, tokens and the status breakdown are filled in from the same scrapes.
      for (const id of ["gw-p50", "gw-p99", "up-p50", "tok-out-rate"]) {
        expect({ id, text: await page.locator(`#${id}`).textContent() }).not.toEqual({ id, text: "—" });
      }
      expect(await page.getByTestId("status-table").textContent()).toContain("2xx");
      expect(await page.getByTestId("upstream-table").textContent()).toContain("mock");
      await page.waitForFunction(() => document.querySelector('[data-testid="checkpoint-size"]')?.textContent !== "—", null, { timeout: 5000 });
      expect(await page.getByTestId("checkpoint-origin").textContent()).not.toBe("");
      await page.screenshot({ path: join(ARTIFACTS, "2-live-under-load.png"), fullPage: true });
    } finally {
      await load.stop();
    }
  }, 40_000);

  test("a refused request shows up under refusals by stage", async () => {
    await fetch(`${warden.url}/v1/chat/completions`, { method: "POST", headers: { authorization: "Bearer wdn-not-a-key" }, body: "{}" }).then((r) => r.arrayBuffer());
    await page.waitForFunction(() => document.querySelector('[data-testid="refusal-table"]')?.textContent?.includes("auth"), null, { timeout: 6000 });
  });

  test("a ledger record looked up by sequence number verifies in the browser", async () => {
    await page.fill("#lookup-seq", "3");
    await page.click("#lookup-form button[type=submit]");
    const result = page.getByTestId("proof-result");
    await page.waitForSelector('[data-testid="proof-result"][data-verified="true"]', { timeout: 10_000 });
    expect(await result.textContent()).toStartWith("✔ Verified");
    const record = JSON.parse((await page.getByTestId("proof-json").textContent())!);
    expect(record).toMatchObject({ seq: 3, status: 200, route: "/v1/chat/completions" });
    // The leaf hash computed in the browser is the gateway's.
    expect(await page.locator("#proof-leaf-hash").textContent()).toBe(await page.locator("#proof-leaf-hash-server").textContent());
    await result.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, "3-proof-verified.png"), fullPage: true });
  });

  test("tampering with one byte of the record makes the proof visibly fail; reset verifies again", async () => {
    await page.click("#proof-inputs summary");
    await page.click("#proof-tamper");
    await page.waitForSelector('[data-testid="proof-result"][data-verified="false"]', { timeout: 5000 });
    const text = (await page.getByTestId("proof-result").textContent())!;
    expect(text).toStartWith("✘ NOT verified");
    expect(text).toContain("Tampered: byte");
    expect(await page.locator("#proof-leaf-hash").textContent()).not.toBe(await page.locator("#proof-leaf-hash-server").textContent());
    await page.getByTestId("proof-result").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, "4-proof-tampered.png"), fullPage: true });

    await page.click("#proof-reset");
    await page.waitForSelector('[data-testid="proof-result"][data-verified="true"]', { timeout: 5000 });
    // A pasted proof with one hash changed fails too.
    const hashes = await page.inputValue("#proof-hashes");
    const flipped = hashes.replace(/^(.)/, (c) => (c === "0" ? "1" : "0"));
    expect(flipped).not.toBe(hashes);
    await page.fill("#proof-hashes", flipped);
    await page.click("#proof-verify");
    await page.waitForSelector('[data-testid="proof-result"][data-verified="false"]', { timeout: 5000 });
  });

  test("the checkpoint's signature checks out with the ledger's key and not with another", async () => {
    const { stdout } = await runOnce(["version"], { WARDEN_DATA_DIR: join(warden.dir, "warden-data") }, 15_000, warden.dir);
    const verifierKey = /^ledger-key (\S+)$/m.exec(stdout)?.[1];
    expect(verifierKey).toBeString();
    await page.click("#signature-panel summary");
    await page.fill("#verifier-key", verifierKey!);
    await page.click("#signature-form button[type=submit]");
    await page.waitForSelector('[data-testid="signature-result"][data-verified="true"]', { timeout: 5000 });
    const origin = verifierKey!.split("+")[0]!;
    await page.fill("#verifier-key", (await generateKey(origin)).verifierKey);
    await page.click("#signature-form button[type=submit]");
    await page.waitForSelector('[data-testid="signature-result"][data-verified="false"]', { timeout: 5000 });
  });

  test("logging out forgets the key and shows the sign-in form", async () => {
    await page.click("#logout");
    await page.locator("#login-form").waitFor({ state: "visible" });
    expect(await page.evaluate(() => sessionStorage.getItem("warden.adminKey"))).toBeNull();
  });

  test("every request the page made went to the gateway's origin, and no script failed", () => {
    const origin = new URL(warden.url).origin;
    expect(requested.length).toBeGreaterThan(10);
    expect(requested.filter((u) => new URL(u).origin !== origin)).toEqual([]);
    expect(requested).toContain(`${origin}/dashboard/app.js`);
    expect(requested.some((u) => u.startsWith(`${origin}/metrics`))).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});

describe("the dashboard without a master key", () => {
  test("says admin is disabled (development mode) and shows live numbers without a login", async () => {
    const open = await startWarden({ WARDEN_UPSTREAM_MOCK_URL: mock.url, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt" });
    const devPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const origins = new Set<string>();
    devPage.on("request", (r) => origins.add(new URL(r.url()).origin));
    try {
      await devPage.goto(`${open.url}/dashboard`);
      await devPage.getByTestId("dev-banner").waitFor({ state: "visible", timeout: 5000 });
      expect(await devPage.getByTestId("dev-banner").textContent()).toContain("Admin is disabled");
      expect(await devPage.locator("#login").isVisible()).toBe(false);
      await devPage.locator("#dashboard").waitFor({ state: "visible" });
      await fetch(`${open.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }] }),
      }).then((r) => r.arrayBuffer());
      await devPage.waitForFunction(() => Number(document.querySelector('[data-testid="request-total"]')?.textContent) >= 1, null, { timeout: 8000 });
      await devPage.screenshot({ path: join(ARTIFACTS, "5-dev-mode.png") });
      expect([...origins]).toEqual([new URL(open.url).origin]);
    } finally {
      await devPage.close();
      await open.stop();
    }
  }, 30_000);
});
