/**
 * The API docs through the compiled binary, started alone from an empty directory: Swagger UI
 * and every file it loads come out of the binary itself (no CDN, nothing on disk), the document
 * is the one the source describes, and the real ledger's replies match it. Then Chromium
 * renders the page with every request that leaves the binary's origin refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromium } from "playwright-core";
import { openApiDocument, type OpenApiDocument } from "../../src/docs/openapi";
import { replyChecker, validateDocument } from "../../src/docs/testing";
import { WARDEN_VERSION } from "../../src/version";
import { startWarden, type Running } from "./binary";

const KEY = "e2e-docs-master-key-0123456789";
const auth = { authorization: `Bearer ${KEY}` };
const CHROMIUM = "/usr/bin/chromium";

let w: Running;
beforeAll(async () => {
  // No upstream configured: the bundled mock model server answers (mock-gpt).
  w = await startWarden({ WARDEN_MASTER_KEY: KEY, WARDEN_CHECKPOINT_INTERVAL_MS: "100" });
});
afterAll(async () => {
  await w?.stop();
});

/** src and href values of the page: everything it makes the browser load. */
const urlsOf = (html: string) => [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1]);
const sha256 = (b: ArrayBuffer) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

describe("Swagger UI from the binary", () => {
  test("GET /docs: HTML without a key, with no absolute URL in it", async () => {
    const res = await fetch(`${w.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']\/\//i); // protocol-relative
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  test("every file the page references is served, with its content type, and is Swagger UI's own", async () => {
    const html = await (await fetch(`${w.url}/docs`)).text();
    const urls = urlsOf(html).filter((u) => !u.startsWith("data:"));
    expect(urls.length).toBe(3);
    const expectedType: Record<string, string> = { css: "text/css", js: "text/javascript" };
    for (const url of urls) {
      const res = await fetch(new URL(url, `${w.url}/docs`));
      const ext = url.split(".").pop()!;
      expect({ url, status: res.status, type: res.headers.get("content-type")?.split(";")[0] }).toEqual({ url, status: 200, type: expectedType[ext] });
      const body = await res.arrayBuffer();
      const name = url.split("/").pop()!;
      if (name.startsWith("swagger-ui")) {
        // Byte for byte the file swagger-ui-dist ships: the binary embeds it, nothing rewrote it.
        const original = await Bun.file(`${import.meta.dir}/../../node_modules/swagger-ui-dist/${name}`).arrayBuffer();
        expect({ name, sha256: sha256(body) }).toEqual({ name, sha256: sha256(original) });
      } else {
        expect(new TextDecoder().decode(body)).not.toMatch(/https?:\/\//);
      }
    }
  });
});

describe("the document from the binary", () => {
  let doc: OpenApiDocument;
  beforeAll(async () => {
    const res = await fetch(`${w.url}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as OpenApiDocument;
  });

  test("is valid, and the same as the source's (the compiled TypeBox schemas included)", async () => {
    expect(await validateDocument(doc)).toEqual([]);
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument(WARDEN_VERSION))));
  });

  test("the real ledger's replies are what it says", async () => {
    const check = replyChecker(doc);
    const get = async (template: string, path: string, status = 200) => {
      const res = await fetch(`${w.url}${path}`, { headers: auth });
      expect({ path, status: res.status, problems: await check("GET", template, res) }).toEqual({ path, status, problems: [] });
    };
    // A served request and a refused one (its record has a `refusal`).
    for (const [model, status] of [["mock-gpt", 200], ["no-such-model", 404]] as const) {
      const res = await fetch(`${w.url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hello" }] }),
      });
      expect({ status: res.status, problems: await check("POST", "/v1/chat/completions", res) }).toEqual({ status, problems: [] });
    }
    // Wait for a checkpoint that covers both records.
    let size = 0;
    for (const until = Date.now() + 10_000; size < 2 && Date.now() < until; await Bun.sleep(50)) {
      const res = await fetch(`${w.url}/v1/audit/checkpoint`, { headers: auth });
      if (res.status === 200) size = Number((await res.text()).split("\n")[1]);
    }
    expect(size).toBeGreaterThanOrEqual(2);
    await get("/v1/audit/checkpoint", "/v1/audit/checkpoint");
    await get("/v1/audit/records/{seq}", "/v1/audit/records/0");
    await get("/v1/audit/records/{seq}", "/v1/audit/records/1");
    await get("/v1/audit/records/{seq}", `/v1/audit/records/${size + 100}`, 404);
    await get("/v1/audit/proof/inclusion", `/v1/audit/proof/inclusion?seq=0&size=${size}`);
    await get("/v1/audit/proof/consistency", `/v1/audit/proof/consistency?from=1&to=${size}`);
    await get("/ready", "/ready");
    await get("/metrics", "/metrics");
  });
});

describe("in a browser, offline", () => {
  test(
    "Chromium renders every operation with nothing fetched from outside and no error",
    async () => {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const page = await browser.newPage();
        const origin = new URL(w.url).origin;
        const outside: string[] = [];
        const errors: string[] = [];
        // Anything not from the binary is refused, as on a host without internet.
        await page.route("**/*", (route) => {
          const url = route.request().url();
          if (url.startsWith(`${origin}/`) || url.startsWith("data:")) return route.continue();
          outside.push(url);
          return route.abort();
        });
        page.on("console", (m) => m.type() === "error" && errors.push(m.text())); // CSP violations land here too
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`${w.url}/docs`);
        const doc = (await (await fetch(`${w.url}/openapi.json`)).json()) as OpenApiDocument;
        const operations = Object.values(doc.paths).flatMap((ops) => Object.keys(ops)).length;
        await page.waitForFunction((n) => document.querySelectorAll(".opblock").length === n, operations, { timeout: 20_000 });
        expect(await page.locator(".info .title").innerText()).toContain("Warden");
        expect({ outside, errors }).toEqual({ outside: [], errors: [] });
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
