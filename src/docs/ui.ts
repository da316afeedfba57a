/**
 * Swagger UI at GET /docs, served entirely by the binary: no CDN, so it works on hosts without
 * internet and leaks no visit to a third party.
 *
 * @elysiajs/swagger 1.3.1 is not used for the page: its Swagger UI HTML loads
 * swagger-ui-bundle.js from unpkg with no option to change that (only the CSS is configurable).
 * Instead the two files Swagger UI needs come from swagger-ui-dist, imported
 * `with { type: "file" }` so `bun build --compile` embeds them (~1.9 MB) and Bun.file serves
 * them. The standalone preset (a URL bar for loading other documents) is left out.
 *
 * Every URL in the page is relative: behind a reverse proxy that mounts Warden under a prefix,
 * /prefix/docs still finds /prefix/docs/assets/... and /prefix/openapi.json. The CSP allows
 * only same-origin scripts, styles, images and fetches, so a browser refuses any CDN too.
 *
 * @example
 * const html = await pageResponse().text(); // <link href="docs/assets/5.35.0/swagger-ui.css"> ...
 */
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerUiPackage from "swagger-ui-dist/package.json" with { type: "json" };

/** In asset URLs, so they can be cached for good: a new Swagger UI gets new URLs. */
export const SWAGGER_UI_VERSION: string = swaggerUiPackage.version;

export interface Asset {
  /** URL path, absolute from the server root (the page refers to it relatively). */
  path: string;
  contentType: string;
  /** The embedded file, or the text itself. */
  file?: string;
  text?: string;
  cacheControl: string;
}

const ASSET_DIR = `/docs/assets/${SWAGGER_UI_VERSION}`;
const IMMUTABLE = "public, max-age=31536000, immutable";

/** Our own start-up script: a file, not inline, so the CSP can forbid inline scripts. */
const INIT_JS = `window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
`;

/** What the page loads besides itself; the routes serving them are hidden from the document. */
export const ASSETS: readonly Asset[] = [
  { path: `${ASSET_DIR}/swagger-ui.css`, contentType: "text/css; charset=utf-8", file: swaggerCss, cacheControl: IMMUTABLE },
  { path: `${ASSET_DIR}/swagger-ui-bundle.js`, contentType: "text/javascript; charset=utf-8", file: swaggerBundle, cacheControl: IMMUTABLE },
  // Changes with Warden, not with Swagger UI: revalidated.
  { path: "/docs/init.js", contentType: "text/javascript; charset=utf-8", text: INIT_JS, cacheControl: "no-cache" },
];

/** Relative to the page at /docs, whose base is the server root (or the proxy's prefix). */
const relative = (path: string) => path.slice(1);

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warden API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${relative(ASSETS[0].path)}">
<style>body { margin: 0; }</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="${relative(ASSETS[1].path)}"></script>
<script src="${relative(ASSETS[2].path)}"></script>
</body>
</html>
`;

/**
 * Same-origin only. Styles need 'unsafe-inline' (Swagger UI sets style attributes), images
 * `data:` (its icons); nothing needs inline script or eval.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function pageResponse(): Response {
  return new Response(PAGE, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    },
  });
}

export function assetResponse(asset: Asset): Response {
  return new Response(asset.file !== undefined ? Bun.file(asset.file) : asset.text, {
    headers: { "content-type": asset.contentType, "cache-control": asset.cacheControl, "x-content-type-options": "nosniff" },
  });
}
