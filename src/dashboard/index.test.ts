import { describe, expect, test } from "bun:test";
import { dashboard } from ".";
import { createAuthenticator } from "../auth";

const MASTER = "dashboard-test-master-key";
function get(path: string, adminEnabled = true, headers: Record<string, string> = {}) {
  const authenticate = createAuthenticator({ masterKey: adminEnabled ? MASTER : undefined });
  return dashboard({ adminEnabled, authenticate }).handle(new Request(`http://localhost${path}`, { headers }));
}

describe("GET /dashboard", () => {
  test("serves the page, its script and its stylesheet with their types", async () => {
    for (const [path, type] of [
      ["/dashboard", "text/html"],
      ["/dashboard/", "text/html"],
      ["/dashboard/app.js", "text/javascript"],
      ["/dashboard/app.css", "text/css"],
    ]) {
      const res = await get(path!);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(res.headers.get("content-type")).toStartWith(type!);
      expect((await res.text()).length).toBeGreaterThan(1000);
    }
  });

  test("the page references only its own two assets", async () => {
    const html = await (await get("/dashboard")).text();
    expect([...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1])).toEqual(["/dashboard/app.css", "/dashboard/app.js"]);
  });

  test("tells the script whether the gateway has a master key", async () => {
    expect(await (await get("/dashboard", true)).text()).toContain('<meta name="warden-admin" content="on">');
    expect(await (await get("/dashboard", false)).text()).toContain('<meta name="warden-admin" content="off">');
  });

  test("a Content-Security-Policy allows this origin only, and no framing", async () => {
    const csp = (await get("/dashboard")).headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
  });

  test("the script is the bundled client: the RFC 9162 verifier and SHA-256 are inside, no import is left", async () => {
    const js = await (await get("/dashboard/app.js")).text();
    expect(js).toContain("wrong proof size"); // src/audit/proof.ts
    expect(js).toContain("warden.adminKey"); // client/api.ts
    // An import left in would make the browser fetch a module from somewhere.
    expect(js.match(/\bfrom\s*["'][^"']*["']|\bimport\s*\(|\brequire\(/g)).toBeNull();
  });

  test("nothing in the assets points at another origin", async () => {
    for (const path of ["/dashboard", "/dashboard/app.js", "/dashboard/app.css"]) {
      expect({ path, urls: (await (await get(path)).text()).match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi) ?? [] }).toEqual({ path, urls: [] });
    }
  });

  test("GET /dashboard/session: 204 for the master key, 401 for any other or none, 404 without a master key", async () => {
    expect((await get("/dashboard/session", true, { authorization: `Bearer ${MASTER}` })).status).toBe(204);
    const wrong = await get("/dashboard/session", true, { authorization: `Bearer ${MASTER}x` });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
    expect((await get("/dashboard/session", true)).status).toBe(401);
    const off = await get("/dashboard/session", false, { authorization: `Bearer ${MASTER}` });
    expect(off.status).toBe(404);
    expect(((await off.json()) as { error: { code: string } }).error.code).toBe("admin_disabled");
  });

  test("other paths are not the dashboard's", async () => {
    expect((await get("/dashboard/other.js")).status).toBe(404);
  });
});
