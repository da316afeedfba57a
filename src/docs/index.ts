/**
 * API documentation: the OpenAPI 3.1 document at GET /openapi.json and Swagger UI at GET /docs.
 *
 * Both are public, no key needed. The document is static — it names no configured model,
 * upstream, key or tenant, and says nothing about whether the admin API is on — so it tells a
 * visitor only what README.md already does about an OpenAI-compatible API. Asking for a key
 * would mostly stop people from finding out how to use one. The guard still checks every
 * request to these routes like any other.
 *
 * Routes marked `detail: { hide: true }` (Swagger UI's files) are left out of the document on
 * purpose; src/docs/index.test.ts fails for any other route the document does not describe.
 *
 * @example
 * new Elysia().use(apiDocs()) // GET /docs, GET /openapi.json
 */
import { Elysia } from "elysia";
import { WARDEN_VERSION } from "../version";
import { openApiDocument } from "./openapi";
import { ASSETS, assetResponse, pageResponse } from "./ui";

export { openApiDocument } from "./openapi";

const HIDDEN = { detail: { hide: true } };

export function apiDocs() {
  // Built on first request and kept: it never changes while the process runs.
  let documentJson: string | undefined;
  const plugin = new Elysia({ name: "warden-docs" })
    .get("/openapi.json", () => {
      documentJson ??= JSON.stringify(openApiDocument(WARDEN_VERSION));
      return new Response(documentJson, { headers: { "content-type": "application/json", "cache-control": "no-cache" } });
    })
    .get("/docs", ({ request }) => {
      // Elysia also routes /docs/ here, where the page's relative URLs would miss: send it to /docs.
      if (new URL(request.url).pathname.endsWith("/")) return new Response(null, { status: 308, headers: { location: "../docs" } });
      return pageResponse();
    });
  for (const asset of ASSETS) plugin.get(asset.path, () => assetResponse(asset), HIDDEN);
  return plugin;
}
