/**
 * TypeBox / Elysia `t` schemas as OpenAPI 3.1 schema objects (JSON Schema 2020-12).
 *
 * The request schemas the gateway validates with (src/waf/schema.ts, src/admin/schema.ts) are
 * reused as they are, so the document cannot drift from what is enforced. Three things are
 * removed on the way: TypeBox's symbol keys, our `expected` phrases (they are for error
 * messages), and what Elysia adds for its own coercion — `nullable` (OpenAPI 3.0 only; the
 * `anyOf [..., null]` beside it says the same) and a numeric-string branch beside every
 * `t.Integer`/`t.Numeric`, which would document `"5"` as a valid limit.
 */

export type JsonSchema = { [keyword: string]: unknown };

const DROPPED = new Set(["expected", "nullable"]);

function isNumericString(s: unknown): boolean {
  const x = s as JsonSchema;
  return x?.type === "string" && (x.format === "integer" || x.format === "numeric");
}

function isNumber(s: unknown): boolean {
  const x = s as JsonSchema;
  return x?.type === "integer" || x?.type === "number";
}

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== "object") return node;
  let obj = node as JsonSchema;
  // Elysia's `t.Integer()`: anyOf [numeric string, integer] — keep the integer.
  const branches = obj.anyOf;
  if (Array.isArray(branches) && branches.length === 2 && branches.some(isNumericString) && branches.some(isNumber)) {
    const { anyOf: _, ...rest } = obj;
    obj = { ...rest, ...(branches.find(isNumber) as JsonSchema) };
  }
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(obj)) {
    if (DROPPED.has(k)) continue;
    // Property and pattern names are data, not keywords: never drop or rewrite them.
    out[k] = k === "properties" || k === "patternProperties" || k === "$defs" ? mapValues(v as JsonSchema) : clean(v);
  }
  return out;
}

function mapValues(o: JsonSchema): JsonSchema {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, clean(v)]));
}

/**
 * A plain JSON copy of a TypeBox schema, ready for an OpenAPI 3.1 document.
 *
 * @example
 * openApiSchema(t.Object({ rpm: t.Nullable(t.Integer({ minimum: 1 })) }))
 * // { type: "object", required: ["rpm"], properties: { rpm: { anyOf: [{ type: "integer", minimum: 1 }, { type: "null" }] } } }
 */
export function openApiSchema(schema: unknown): JsonSchema {
  // JSON.stringify drops TypeBox's symbol keys (Kind, Optional...).
  return clean(JSON.parse(JSON.stringify(schema))) as JsonSchema;
}
