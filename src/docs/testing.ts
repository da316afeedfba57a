/**
 * Test support (imports dev dependencies; never import it from the app): checks that the
 * OpenAPI document is valid and that real replies are what it says.
 *
 * - {@link validateDocument}: the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator, which
 *   also resolves every `$ref`), every component schema against the JSON Schema 2020-12
 *   meta-schema with Ajv in strict mode, so an unknown keyword (a leftover `expected`) fails too,
 *   and every example against its schema.
 * - {@link replyChecker}: a reply's status must be documented for its operation, its content type
 *   among the documented ones, and a JSON body must match the documented schema.
 *
 * @example
 * const check = replyChecker(doc);
 * expect(await check("GET", "/v1/models", await app.handle(req))).toEqual([]);
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import type { OpenApiDocument } from "./openapi";

const BASE = "https://warden.invalid/openapi.json";

type Json = { [key: string]: unknown };

function strictAjv(doc: OpenApiDocument) {
  const ajv = new Ajv2020({ strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false, allErrors: true });
  // OpenAPI's own schema keyword, and the container the `$ref`s point into.
  ajv.addKeyword("example");
  ajv.addKeyword("components");
  ajv.addFormat("date-time", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  ajv.addSchema({ $id: BASE, components: { schemas: doc.components.schemas } });
  return ajv;
}

/** `#/components/...` of an inline schema, made absolute so Ajv finds it in the document. */
function absoluteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === "$ref" && typeof v === "string" && v.startsWith("#/") ? BASE + v : absoluteRefs(v)]));
}

/** Problems with the document; empty when it is valid. */
export async function validateDocument(doc: OpenApiDocument): Promise<string[]> {
  const problems: string[] = [];
  const result = await new Validator().validate(structuredClone(doc) as unknown as Json);
  if (!result.valid) problems.push(`OpenAPI: ${JSON.stringify(result.errors).slice(0, 2000)}`);
  const ajv = strictAjv(doc);
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    if (!ajv.validateSchema(schema)) problems.push(`schema ${name}: ${ajv.errorsText(ajv.errors)}`);
    try {
      ajv.compile({ $ref: `${BASE}#/components/schemas/${name}` });
    } catch (e) {
      problems.push(`schema ${name}: ${(e as Error).message}`);
    }
  }
  for (const [where, media] of mediaTypes(doc)) {
    if (media.example === undefined) continue;
    const validate = ajv.compile(absoluteRefs(media.schema) as Json);
    if (!validate(media.example)) problems.push(`example of ${where}: ${ajv.errorsText(validate.errors)}`);
  }
  return problems;
}

/** Every media type object of every request body and reply, named by where it is. */
function mediaTypes(doc: OpenApiDocument): [string, { schema: Json; example?: unknown }][] {
  const out: [string, { schema: Json; example?: unknown }][] = [];
  for (const [path, ops] of Object.entries(doc.paths as unknown as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(ops)) {
      const bodies = { request: op.requestBody, ...(op.responses as Json) } as Record<string, { content?: Record<string, { schema: Json; example?: unknown }> } | undefined>;
      for (const [status, body] of Object.entries(bodies)) {
        for (const [type, media] of Object.entries(body?.content ?? {})) out.push([`${method} ${path} ${status} ${type}`, media]);
      }
    }
  }
  return out;
}

const mediaType = (contentType: string | null) => (contentType ?? "").split(";")[0].trim().toLowerCase();

/**
 * A function that lists what is wrong with a reply, given the documented operation it answers
 * (method and path template as in the document, like `/admin/keys/{id}`).
 */
export function replyChecker(doc: OpenApiDocument) {
  const ajv = strictAjv(doc);
  const paths = doc.paths as unknown as Record<string, Record<string, Json>>;
  const compiled = new Map<Json, ReturnType<typeof ajv.compile>>();
  const validatorOf = (schema: Json) => {
    let v = compiled.get(schema);
    if (v === undefined) compiled.set(schema, (v = ajv.compile(absoluteRefs(schema) as Json)));
    return v;
  };
  return async function check(method: string, template: string, res: Response): Promise<string[]> {
    const where = `${method} ${template} → ${res.status}`;
    const op = paths[template]?.[method.toLowerCase()];
    if (op === undefined) return [`${method} ${template} is not in the document`];
    const responses = op.responses as Record<string, Json>;
    const documented = responses[String(res.status)] ?? responses[`${String(res.status)[0]}XX`] ?? responses.default;
    if (documented === undefined) return [`${where}: status not documented (${Object.keys(responses).join(", ")})`];
    const text = await res.text();
    const content = documented.content as Record<string, { schema: Json }> | undefined;
    if (content === undefined) return text === "" ? [] : [`${where}: a body where none is documented`];
    const type = mediaType(res.headers.get("content-type"));
    const media = Object.entries(content).find(([k]) => mediaType(k) === type)?.[1];
    if (media === undefined) return [`${where}: content type ${type} not documented (${Object.keys(content).join(", ")})`];
    if (type === "application/json") {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return [`${where}: not JSON: ${text.slice(0, 200)}`];
      }
      const validate = validatorOf(media.schema);
      if (!validate(body)) return [`${where}: ${ajv.errorsText(validate.errors)} in ${text.slice(0, 500)}`];
    }
    // OpenAI's streams end with `data: [DONE]`, Anthropic's (POST /v1/messages) with `message_stop`.
    const anthropic = JSON.stringify(media.schema).includes("AnthropicEventStream");
    const last = anthropic ? /(^|\n)event: message_stop\ndata: \{"type":"message_stop"\}\n\n$/ : /(^|\n)data: \[DONE\]\n\n$/;
    if (type === "text/event-stream" && !last.test(text)) return [`${where}: a stream that does not end with ${anthropic ? "message_stop" : "data: [DONE]"}`];
    return [];
  };
}
